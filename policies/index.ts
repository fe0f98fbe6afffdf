// The order of a route's policies, in one place. Each policy's factory receives the route
// build (its narrow config is `b.route.<key>`) and returns null when the route does not use it.
//
// Route policies, outermost first, wrap the split:   timeout (always, in routing.ts) -> ...
// Backend policies wrap one backend's endpoint pick and forward (per route and backend).
import type { Policy } from '../proxy/pipeline.ts';
import type { RouteBuild } from '../proxy/routing.ts';
import { breakerPolicy } from './breaker/index.ts';
import { cachePolicy } from './cache/index.ts';
import { embeddingCachePolicy } from './embedding-cache/index.ts';
import { canaryPolicy } from './canary/index.ts';
import { fallbackPolicy } from './fallback/index.ts';
import { outlierPolicy } from './outlier/index.ts';
import { retryPolicy } from './retry/index.ts';
import { shadowPolicy } from './shadow/index.ts';
import { shedPolicy } from './shed/index.ts';

type RoutePolicyFactory = (b: RouteBuild) => Policy | null;
type BackendPolicyFactory = (b: RouteBuild, backend: string) => Policy | null;

// Agreed order: cache, embedding-cache, shed, fallback, shadow, retry.
const ROUTE_POLICIES: readonly RoutePolicyFactory[] = [
  cachePolicy,       // outermost: a hit or a coalesced waiter costs nothing below
  embeddingCachePolicy, // per item: only the uncached inputs go on, as one smaller request
  shedPolicy,        // route maxConcurrent: refuses before any work (cache hits above it are not shed)
  fallbackPolicy,    // outside retries: its rungs get what the primary path leaves of the deadline
  shadowPolicy,      // one copy per request, whatever the retries and fallbacks below and above do
  retryPolicy,       // just outside the split: each retry picks a backend and endpoint again
];

// Per backend: the breaker, then outlier ejection around the endpoint pick and forward.
const BACKEND_POLICIES: readonly BackendPolicyFactory[] = [
  breakerPolicy,
  outlierPolicy,
  canaryPolicy,      // innermost: sees each real attempt to the route's split backends, not the breaker's refusals
];

export function routePolicies(b: RouteBuild): Policy[] {
  return ROUTE_POLICIES.map((f) => f(b)).filter((p): p is Policy => p !== null);
}

export function backendPolicies(b: RouteBuild, backend: string): Policy[] {
  return BACKEND_POLICIES.map((f) => f(b, backend)).filter((p): p is Policy => p !== null);
}
