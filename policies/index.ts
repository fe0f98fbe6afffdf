// The order of a route's policies, in one place. Each policy's factory receives the route
// build (its narrow config is `b.route.<key>`) and returns null when the route does not use it.
//
// Route policies, outermost first, wrap the split:   timeout (always, in routing.ts) -> ...
// Backend policies wrap one backend's endpoint pick and forward (per route and backend).
import type { Policy } from '../proxy/pipeline.ts';
import type { RouteBuild } from '../proxy/routing.ts';

type RoutePolicyFactory = (b: RouteBuild) => Policy | null;
type BackendPolicyFactory = (b: RouteBuild, backend: string) => Policy | null;

const ROUTE_POLICIES: readonly RoutePolicyFactory[] = [];

const BACKEND_POLICIES: readonly BackendPolicyFactory[] = [];

export function routePolicies(b: RouteBuild): Policy[] {
  return ROUTE_POLICIES.map((f) => f(b)).filter((p): p is Policy => p !== null);
}

export function backendPolicies(b: RouteBuild, backend: string): Policy[] {
  return BACKEND_POLICIES.map((f) => f(b, backend)).filter((p): p is Policy => p !== null);
}
