// The in-process tier: one LRU bounded in bytes (lru-cache's maxSize), whatever the key
// pattern. Each entry is charged its real footprint: value bytes, key characters and a fixed
// estimate of what the LRU's bookkeeping and the Buffer objects cost (measured with
// bench/cache: about 1M entries of 100-byte values at this estimate keep RSS within bounds).
import { LRUCache } from 'lru-cache';
import type { CacheStore } from './store.ts';
import { routeSegment } from './store.ts';

/** Bytes charged per entry beyond its key and value: the LRU's Map slot and index arrays, the Buffer and ArrayBuffer objects. */
export const ENTRY_OVERHEAD = 320;

export interface MemoryStoreOptions {
  readonly maxBytes: number;
  /** Caps every entry's lifetime in this tier (the Redis tier's local front keeps entries briefly). */
  readonly maxTtlMs?: number;
}

export class MemoryStore implements CacheStore {
  readonly maxBytes: number;
  private readonly lru: LRUCache<string, Buffer>;
  private readonly maxTtl: number;

  constructor(opts: MemoryStoreOptions) {
    this.maxBytes = Math.max(1, Math.floor(opts.maxBytes));
    this.maxTtl = opts.maxTtlMs ?? Infinity;
    this.lru = new LRUCache<string, Buffer>({
      maxSize: this.maxBytes,
      sizeCalculation: (value, key) => entrySize(key, value),
      // Expired entries are dropped when read or when the byte bound evicts them; no timers per entry.
      ttlAutopurge: false,
      allowStale: false,
      updateAgeOnGet: false,
    });
  }

  get(key: string): Promise<Buffer | null> {
    return Promise.resolve(this.lru.get(key) ?? null);
  }

  peek(key: string): Buffer | null {
    return this.lru.get(key) ?? null;
  }

  set(key: string, value: Buffer, ttlMs: number): void {
    const ttl = Math.min(ttlMs, this.maxTtl);
    if (!(ttl >= 1)) return;
    this.lru.set(key, owned(value), Number.isFinite(ttl) ? { ttl: Math.ceil(ttl) } : {});
  }

  setLocal(key: string, value: Buffer, ttlMs: number): void {
    this.set(key, value, ttlMs);
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  purge(route: string | null): Promise<number> {
    return Promise.resolve(this.purgeNow(route));
  }

  /** Deletes every entry (or one route's); counts those that are not aliases (derived, not answers). */
  purgeNow(route: string | null): number {
    const segment = route === null ? null : `:${routeSegment(route)}:`;
    const doomed: string[] = [];
    let answers = 0;
    for (const key of this.lru.keys()) {
      if (segment !== null && key.indexOf(segment) !== 1) continue;
      doomed.push(key);
      if (key.charCodeAt(0) !== 97 /* a */) answers++;
    }
    if (segment === null) this.lru.clear();
    else for (const key of doomed) this.lru.delete(key);
    return answers;
  }

  /** Moves what fits into `next` (a reload that resized the store keeps its entries); dump() lists the least recent first. */
  moveTo(next: MemoryStore): void {
    const now = Date.now();
    for (const [key, entry] of this.lru.dump()) {
      const ttl = entry.ttl === undefined || entry.ttl === 0 ? Infinity : entry.ttl - (now - (entry.start ?? now));
      if (ttl >= 1) next.set(key, entry.value, ttl);
    }
    this.lru.clear();
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get entries(): number {
    return this.lru.size;
  }

  describe(): Record<string, unknown> {
    return { store: 'memory', maxBytes: this.maxBytes, bytes: this.bytes, entries: this.entries };
  }

  close(): Promise<void> {
    this.lru.clear();
    return Promise.resolve();
  }
}

/** `value` on an allocation of its own: a slice would keep its whole parent (a socket read, a pool slab) alive unaccounted. */
function owned(value: Buffer): Buffer {
  if (value.byteOffset === 0 && value.buffer.byteLength === value.length) return value;
  const copy = Buffer.allocUnsafeSlow(value.length);
  value.copy(copy);
  return copy;
}

export function entrySize(key: string, value: Buffer): number {
  return value.length + key.length + ENTRY_OVERHEAD;
}
