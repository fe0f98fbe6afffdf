// Keys the schema knows (so editors complete them and the normaliser reads them) but this
// version of Outrider does not act on yet. A config using one is refused rather than run
// without the protection it asks for. Enabling a feature is deleting its line here.

export interface Gate {
  /** Where the key sits: `[]` stands for any index of a list. */
  readonly path: string;
  /** Only this value is gated; the key itself is accepted with other values. */
  readonly value?: string;
  /** When it comes, for the message. */
  readonly arrives: string;
}

export const GATED: readonly Gate[] = [
  { path: 'routes[].retry', arrives: 'retries arrive with the resilience policies' },
  { path: 'routes[].breaker', arrives: 'circuit breakers arrive with the resilience policies' },
  { path: 'routes[].cache', arrives: 'response caching arrives with the cache policies' },
  { path: 'routes[].embeddingCache', arrives: 'the embedding cache arrives with the cache policies' },
  { path: 'routes[].sticky', arrives: 'sticky routing arrives with the traffic-splitting policies' },
  { path: 'routes[].shadow', arrives: 'shadow traffic arrives with the traffic-splitting policies' },
  { path: 'routes[].canary', arrives: 'automatic canaries arrive with the traffic-splitting policies' },
  { path: 'routes[].fallback', arrives: 'fallbacks arrive with the resilience policies' },
  { path: 'upstreams[].outlier', arrives: 'outlier ejection arrives with the resilience policies' },
  { path: 'cache.store', value: 'redis', arrives: 'the shared Redis store arrives with the cache policies' },
];
