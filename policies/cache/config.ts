// The part of the config the response cache reads: the route's `cache` and the store's
// per-entry limit (SPEC §2; `staleFor` and `cache.maxEntryBytes` are documented in docs/cache.md).
import type { RouteCacheConfig } from '../../proxy/config/types.ts';

export type { RouteCacheConfig };

/** Methods whose answers are cached. Inference is POST; the body is part of the key. */
export const CACHEABLE_METHODS: ReadonlySet<string> = new Set(['GET', 'POST']);
