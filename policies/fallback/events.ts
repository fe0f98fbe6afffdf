// What the fallback ladder tells telemetry (proxy/telemetry/resilience.ts) and the chaos suite.

/**
 * The primary path failed and the ladder ran. `kind`: the rung that answered, named as in
 * x-outrider-degraded (stale-cache | fallback | static), or `exhausted` when none did (503).
 * `cause`: what failed: an error detail (connect, reset, timeout, breaker_open, no_endpoint,
 * breaker_concurrency, invalid_response, upstream) or `status_5xx`.
 */
export const FALLBACK = 'fallback';
export interface FallbackEvent { readonly route: string; readonly kind: 'stale-cache' | 'fallback' | 'static' | 'exhausted'; readonly cause: string }
