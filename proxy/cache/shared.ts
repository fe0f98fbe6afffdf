// The process's one cache store, across reloads: the same store while `cache` is unchanged;
// a changed section gets a new store (a resized memory store keeps what fits, a new Redis
// connection replaces the old one). Telemetry learns of each store through the event bus.
import type { CacheConfig } from '../config/types.ts';
import type { PolicyEvents } from '../events.ts';
import type { Logger } from '../telemetry/log.ts';
import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import type { CacheStore } from './store.ts';

/** Event carrying the store now in use (telemetry reads its size when scraped). */
export const STORE_EVENT = 'cache.store';

export class SharedCache {
  private readonly events: PolicyEvents;
  private readonly log: Logger;
  private current: { readonly fingerprint: string; readonly store: CacheStore } | null = null;

  constructor(events: PolicyEvents, log: Logger) {
    this.events = events;
    this.log = log;
  }

  /** The store for a (re)loaded config. */
  use(cfg: CacheConfig): CacheStore {
    const fingerprint = JSON.stringify(cfg);
    const have = this.current;
    if (have !== null && have.fingerprint === fingerprint) return have.store;
    const store = cfg.store === 'redis' && cfg.redis !== null
      ? new RedisStore({ url: cfg.redis.url, prefix: cfg.redis.prefix, maxBytes: cfg.maxBytes, log: this.log })
      : new MemoryStore({ maxBytes: cfg.maxBytes });
    if (have !== null) {
      if (have.store instanceof MemoryStore && store instanceof MemoryStore) have.store.moveTo(store);
      // Requests still on the previous table finish: a closed store reads as misses.
      void have.store.close().catch(() => undefined);
    }
    this.current = { fingerprint, store };
    this.events.emit(STORE_EVENT, store);
    return store;
  }

  close(): Promise<void> {
    const store = this.current?.store;
    this.current = null;
    return store === undefined ? Promise.resolve() : store.close();
  }
}
