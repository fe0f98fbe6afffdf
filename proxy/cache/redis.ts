// The shared tier (`cache.store: redis`): entries live in Redis, so every replica of the
// sidecar answers from what any of them stored, with a short in-process LRU in front so that
// hot keys cost no round trip. The cache must never fail or slow a request: a read that takes
// longer than READ_TIMEOUT_MS, a Redis that is down, or one that keeps failing is skipped (a
// miss), writes are fire and forget, and the client reconnects in the background.
import { Redis } from 'ioredis';
import type { Logger } from '../telemetry/log.ts';
import { redactUrl } from '../config/redact.ts';
import { MemoryStore } from './memory.ts';
import type { CacheStore } from './store.ts';
import { routeSegment } from './store.ts';

/** A read slower than this is a miss: Redis on the same network answers in well under a millisecond. */
export const READ_TIMEOUT_MS = 50;
/** How long the local front keeps an entry: a purge or expiry elsewhere is seen within this delay. */
export const LOCAL_TTL_MS = 2_000;
/** After this many failed or late reads in a row, Redis is skipped for SKIP_MS. */
const FAILURES_TO_SKIP = 3;
const SKIP_MS = 1_000;
/** Commands awaiting a reply, at most (per kind): a stalled Redis must not grow our memory. */
const MAX_PENDING = 256;
const SCAN_COUNT = 1_000;
/**
 * Each Redis value starts with its expiry (epoch ms, float64 LE), so a replica that reads it
 * keeps its local copy no longer than the shared one lives, without a PTTL round trip.
 */
const EXPIRY_BYTES = 8;

export interface RedisStoreOptions {
  readonly url: string;
  readonly prefix: string;
  readonly maxBytes: number;
  readonly log: Logger;
}

export class RedisStore implements CacheStore {
  private readonly client: Redis;
  private readonly local: MemoryStore;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly where: string;
  private pendingReads = 0;
  private pendingWrites = 0;
  private failures = 0;
  private skipUntil = 0;
  private up = false;
  private warned = false;
  private closed = false;
  /** Reads and writes skipped or failed since start, for /routes. */
  private bypassed = 0;

  constructor(opts: RedisStoreOptions) {
    this.prefix = opts.prefix;
    this.log = opts.log;
    this.where = redactUrl(opts.url);
    this.local = new MemoryStore({ maxBytes: opts.maxBytes, maxTtlMs: LOCAL_TTL_MS });
    this.client = new Redis(opts.url, {
      // Commands fail at once while disconnected instead of queueing behind the reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2_000,
      // A connection that stops answering is dropped (its pending commands rejected) and reopened.
      socketTimeout: 2_000,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
      disableClientInfo: true,
      connectionName: 'outrider',
    });
    // One warning per outage, however many reconnect attempts fail during it.
    this.client.on('ready', () => {
      this.up = true;
      this.warned = false;
      this.failures = 0;
      this.log.info({ redis: this.where }, 'cache: redis connected');
    });
    this.client.on('close', () => {
      if (this.up && !this.closed) this.log.warn({ redis: this.where }, 'cache: redis connection lost; the cache is bypassed until it is back');
      this.warned ||= this.up;
      this.up = false;
    });
    this.client.on('error', (e: Error) => {
      if (!this.warned && !this.closed) this.log.warn({ redis: this.where, err: e.message }, 'cache: redis unavailable; the cache is bypassed until it is back');
      this.warned = true;
    });
  }

  async get(key: string): Promise<Buffer | null> {
    const hit = this.local.peek(key);
    if (hit !== null) return hit;
    if (!this.usable() || this.pendingReads >= MAX_PENDING) {
      this.bypassed++;
      return null;
    }
    this.pendingReads++;
    const read = this.client.getBuffer(this.prefix + key).finally(() => { this.pendingReads--; });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(resolve, READ_TIMEOUT_MS, 'late'); });
    try {
      const value = await Promise.race([read, late]);
      if (value === 'late') {
        read.catch(() => undefined);
        this.failed();
        return null;
      }
      this.failures = 0;
      if (value === null || value.length < EXPIRY_BYTES) return null;
      const ttl = value.readDoubleLE(0) - Date.now();
      if (!(ttl >= 1)) return null;
      const payload = value.subarray(EXPIRY_BYTES);
      this.local.set(key, payload, ttl);
      return payload;
    } catch {
      this.failed();
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  peek(key: string): Buffer | null {
    return this.local.peek(key);
  }

  setLocal(key: string, value: Buffer, ttlMs: number): void {
    this.local.set(key, value, ttlMs);
  }

  set(key: string, value: Buffer, ttlMs: number): void {
    if (!(ttlMs >= 1)) return;
    this.local.set(key, value, ttlMs);
    if (!this.usable() || this.pendingWrites >= MAX_PENDING) {
      this.bypassed++;
      return;
    }
    this.pendingWrites++;
    const stored = Buffer.allocUnsafe(EXPIRY_BYTES + value.length);
    stored.writeDoubleLE(Date.now() + ttlMs, 0);
    value.copy(stored, EXPIRY_BYTES);
    this.client.set(this.prefix + key, stored, 'PX', Math.ceil(ttlMs)).then(
      () => { this.pendingWrites--; },
      () => { this.pendingWrites--; this.bypassed++; },
    );
  }

  /** Purges the local front and Redis; rejects when Redis could not be purged (the caller reports it). */
  async purge(route: string | null): Promise<number> {
    const local = this.local.purgeNow(route);
    const pattern = globEscape(this.prefix) + (route === null ? '*' : `?:${globEscape(routeSegment(route))}:*`);
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      if (keys.length > 0) deleted += await this.client.unlink(...keys);
    } while (cursor !== '0');
    return Math.max(local, deleted);
  }

  private usable(): boolean {
    if (this.closed || !this.up || this.client.status !== 'ready') return false;
    return this.skipUntil === 0 || performance.now() >= this.skipUntil;
  }

  private failed(): void {
    this.bypassed++;
    if (++this.failures >= FAILURES_TO_SKIP) {
      this.failures = 0;
      this.skipUntil = performance.now() + SKIP_MS;
    }
  }

  get bytes(): number {
    return this.local.bytes;
  }

  get entries(): number {
    return this.local.entries;
  }

  describe(): Record<string, unknown> {
    return {
      store: 'redis', redis: this.where, prefix: this.prefix, connected: this.up,
      bypassed: this.bypassed, localBytes: this.local.bytes, localEntries: this.local.entries, localTtlMs: LOCAL_TTL_MS,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.local.close();
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/** Redis glob metacharacters (`*?[]\`) matched literally. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
