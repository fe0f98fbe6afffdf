// The part of the config the embedding cache reads: the route's `embeddingCache` (SPEC §2) and
// the store's per-entry limit. Which protocol a request speaks is told by its path.
import { KSERVE_INFER, kserve } from './kserve.ts';
import { openai } from './openai.ts';
import type { Protocol } from './protocol.ts';

export interface EmbeddingCacheConfig {
  readonly ttl: number;
}

/** OpenAI for a path ending in /embeddings, KServe v2 for /v2/models/{name}[/versions/{v}]/infer; else none. */
export function protocolFor(path: string): Protocol | null {
  if (path.endsWith('/embeddings')) return openai;
  if (KSERVE_INFER.test(path)) return kserve;
  return null;
}
