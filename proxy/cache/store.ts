// The one store behind every route's caches (SPEC §2 top-level `cache`): opaque byte values
// under string keys, each with its own lifetime. The response cache and the embedding cache
// encode their entries themselves, so the memory tier accounts real bytes and the Redis tier
// stores the same bytes for other replicas.

/**
 * Keys are `<kind>:<route>:<digest>`, so one route's entries can be purged; `kind` is `r`
 * (responses), `e` (embedding items) or `a` (aliases: a request's exact bytes -> its response
 * key). Route names are URI-encoded, so they never contain `:`.
 */
export function storeKey(kind: 'r' | 'e' | 'a', route: string, digest: string): string {
  return `${kind}:${routeSegment(route)}:${digest}`;
}

export function routeSegment(route: string): string {
  return encodeURIComponent(route);
}

export interface CacheStore {
  /** The value, or null when absent, expired, or the store could not answer in time. Never rejects. */
  get(key: string): Promise<Buffer | null>;
  /** The value if this process holds it (the memory tier, or Redis's local front), without waiting. */
  peek(key: string): Buffer | null;
  /** Stores `value` for `ttlMs`; fire and forget: a store that fails drops it. */
  set(key: string, value: Buffer, ttlMs: number): void;
  /** Stores in this process only (derived data, such as the key aliases of the response cache). */
  setLocal(key: string, value: Buffer, ttlMs: number): void;
  /** Deletes every entry, or those of one route; resolves with how many were deleted. */
  purge(route: string | null): Promise<number>;
  /** Bytes held in this process (entry sizes as accounted against `cache.maxBytes`). */
  readonly bytes: number;
  readonly entries: number;
  /** What /routes and logs may show about the store (never a secret). */
  describe(): Record<string, unknown>;
  close(): Promise<void>;
}
