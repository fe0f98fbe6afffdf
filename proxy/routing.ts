// The route table: built once per config load (every route's policy chain composed then), and
// swapped whole on reload. Requests finish on the table they started with.
//
// A route's chain, outermost first (the order lives in policies/index.ts):
//   timeout -> route policies (cache, fallback, shadow, retry, ...) -> split (sets ctx.target)
//   -> backend policies for ctx.target (breaker, ...) -> endpoint pick -> forward
import type { IncomingMessage } from 'node:http';
import type { BackendSet, Endpoint } from '../runtime/types.ts';
import type { Config, RouteConfig, UpstreamConfig } from './config/types.ts';
import { OutriderError } from './errors.ts';
import { requestHasBody, smallBody, type RequestContext } from './context.ts';
import type { Handler } from './pipeline.ts';
import { compose } from './pipeline.ts';
import type { Balancers } from './balance.ts';
import type { Forwarder } from './forward.ts';
import type { PolicyEvents } from './events.ts';
import type { Persistent } from './persist.ts';
import type { CacheStore } from './cache/store.ts';
import type { SharedCache } from './cache/shared.ts';
import { timeoutPolicy } from '../policies/timeout/index.ts';
import { RETRY, type RetryEvent } from '../policies/retry/events.ts';
import { routeSplit } from '../policies/split/index.ts';
import type { BackendShare } from '../policies/split/index.ts';
import { singleModelPath } from '../policies/split/model-path.ts';
import { backendPolicies, routePolicies } from '../policies/index.ts';

export interface Route {
  readonly name: string;
  readonly config: RouteConfig;
  readonly handler: Handler;
  matches(method: string, path: string, req: IncomingMessage): boolean;
  /** What the route's policies report for /routes (breakers, canary, cache ratio, ...). */
  status(): Record<string, unknown>;
  /** Each split backend's weight and share of new requests now (the canary may have changed them). */
  shares(): readonly BackendShare[];
  /** An operator action a policy offers on this route (e.g. `canary/reset`), for the admin port. */
  action(name: string): (() => unknown) | undefined;
}

export interface RouteTable {
  readonly config: Config;
  readonly routes: readonly Route[];
  /** The backend sets the routes use, by name (for /routes). */
  readonly backends: ReadonlyMap<string, BackendSet>;
  /** The store every route's caches share (admin purges it). */
  readonly cache: CacheStore;
  match(req: IncomingMessage, path: string): Route | null;
  /** A policy-free route straight to one runtime, for the proxy's own warmup before /readyz turns green. */
  warmRoute(runtime: string): Route | undefined;
}

export interface RoutingDeps {
  /** A runtime's live endpoint set, by name. */
  readonly runtime: (name: string) => BackendSet | undefined;
  readonly forwarder: Forwarder;
  readonly balancers: Balancers;
  readonly events: PolicyEvents;
  readonly persist: Persistent;
  readonly cache: SharedCache;
}

/** What a policy factory gets when a route is built: its narrow config plus the shared pieces. */
export interface RouteBuild {
  readonly route: RouteConfig;
  readonly config: Config;
  readonly backends: ReadonlyMap<string, BackendSet>;
  readonly events: PolicyEvents;
  readonly balancers: Balancers;
  /** The byte-bounded store shared by every route's caches (SPEC §2 `cache`). */
  readonly cache: CacheStore;
  /** Sends ctx to ctx.target through that backend's policies (breaker), endpoint pick and forward. */
  readonly toBackend: Handler;
  /** State kept across reloads while `key` stays in use and `fingerprint` (usually the policy's config as JSON) is unchanged. */
  persist<T>(key: string, fingerprint: string, make: () => T): T;
  /** Adds a section to this route's /routes entry. */
  addStatus(key: string, fn: () => unknown): void;
  /** Offers an operator action on this route to the admin port (see Route.action). */
  addAction(name: string, fn: () => unknown): void;
}

export function upstreamBackend(u: UpstreamConfig): BackendSet {
  const endpoints: readonly Endpoint[] = Object.freeze(u.endpoints.map((origin) => Object.freeze({ id: `${u.name}/${origin}`, origin, backend: u.name })));
  return { name: u.name, kind: 'upstream', version: '', endpoints: () => endpoints };
}

export function buildRouteTable(config: Config, deps: RoutingDeps): RouteTable {
  const backends = new Map<string, BackendSet>();
  for (const u of config.upstreams) backends.set(u.name, upstreamBackend(u));
  for (const r of config.runtimes) {
    const set = deps.runtime(r.name);
    // The config loader checked the names; a missing runtime here is a wiring bug.
    if (set === undefined) throw new Error(`runtime "${r.name}" has no endpoint set`);
    backends.set(r.name, set);
  }
  const used = new Set<string>();
  const cache = deps.cache.use(config.cache);
  const routes = config.routes.map((rc) => buildRoute(rc, config, backends, cache, deps, used));
  const warmRoutes = new Map(config.runtimes.map((r) => [r.name, buildRoute(warmRouteConfig(r.name, config.routes), config, backends, cache, deps, used)] as const));
  deps.persist.retain(used);
  return {
    config,
    routes,
    backends,
    cache,
    match(req, path) {
      const method = req.method ?? 'GET';
      for (const r of routes) if (r.matches(method, path, req)) return r;
      return null;
    },
    warmRoute: (runtime) => warmRoutes.get(runtime),
  };
}

/** Policy-free, but picking endpoints the way the first route to the runtime does, so that warmup runs that code. */
function warmRouteConfig(runtime: string, routes: readonly RouteConfig[]): RouteConfig {
  const balance = routes.find((rc) => rc.backends.some((b) => b.to === runtime))?.balance ?? 'p2c-ewma';
  return {
    name: 'warmup', match: { path: '/', prefix: true, methods: null, headers: [] }, timeout: 5_000, attemptTimeout: null,
    backends: [{ to: runtime, weight: 1 }], retry: null, breaker: null, cache: null, embeddingCache: null, sticky: null,
    shadow: null, canary: null, balance, fallback: [], maxConcurrent: null,
  };
}

function buildRoute(rc: RouteConfig, config: Config, backends: ReadonlyMap<string, BackendSet>, cache: CacheStore, deps: RoutingDeps, used: Set<string>): Route {
  const { forwarder, balancers } = deps;
  const statuses = new Map<string, () => unknown>();
  const actions = new Map<string, () => unknown>();
  const perBackend = new Map<string, Handler>();
  const toBackend: Handler = (ctx) => {
    const h = ctx.target === null ? undefined : perBackend.get(ctx.target);
    if (h === undefined) throw new OutriderError('internal', `route "${rc.name}" has no backend "${ctx.target}"`);
    return h(ctx);
  };
  const build: RouteBuild = {
    route: rc,
    config,
    backends,
    events: deps.events,
    balancers,
    cache,
    toBackend,
    persist: (key, fingerprint, make) => {
      used.add(key);
      return deps.persist.get(key, fingerprint, make);
    },
    addStatus: (key, fn) => { statuses.set(key, fn); },
    addAction: (name, fn) => { actions.set(name, fn); },
  };
  for (const name of backendNames(rc)) {
    const set = backends.get(name)!;
    const picker = balancers.for(name);
    const rewrite = config.runtimes.some((r) => r.name === name && r.kind === 'onnx') ? singleModelPath(name) : null;
    const send: Handler = (ctx) => {
      ctx.upstreamPath = rewrite === null ? null : rewrite(ctx.req.url ?? '/');
      const ready = set.endpoints();
      const endpoint = picker.pick(ctx.avoid === null ? ready : avoiding(ready, ctx.avoid, picker.ejected), rc.balance);
      if (endpoint === null) throw new OutriderError('unavailable', `no ready endpoint for backend "${name}"`, { detail: 'no_endpoint' });
      ctx.attempts++;
      return forwarder.forward(ctx, endpoint, picker, attemptBudget(ctx, rc.attemptTimeout));
    };
    const chain = compose(...backendPolicies(build, name))(send);
    // A connection that could not be made sent nothing: the request goes through the backend's
    // policies again, to another ready endpoint, once, retry policy or not. An endpoint that just
    // died, before the supervisor or the outlier detector took it out, must not fail requests
    // its peers can serve; the breaker and the outlier detector still see the failed attempt.
    const resending: Handler = async (ctx) => {
      try {
        return await chain(ctx);
      } catch (e) {
        const failed = ctx.endpoint;
        if (!(e instanceof OutriderError) || e.detail !== 'connect' || ctx.aborted || failed === null) throw e;
        if (!set.endpoints().some((x) => x.id !== failed && !picker.ejected.has(x.id))) throw e;
        ctx.avoid = failed;
        // Counted as a retry (outrider_retries_total); not charged to a retry budget: nothing
        // reached the endpoint that failed.
        deps.events.emit(RETRY, { route: rc.name, reason: 'connect' } satisfies RetryEvent);
        return chain(ctx);
      }
    };
    // A streamed body cannot be sent twice (undici destroys it with a failed attempt). A small
    // body of known length is read whole by forward() before its first attempt (as Envoy
    // buffers bodies for its retries), so it can go again; a large or chunked one streams and
    // is not re-sent.
    perBackend.set(name, (ctx) => {
      if (set.endpoints().length < 2) return chain(ctx);
      return ctx.body !== null || !requestHasBody(ctx.req) || smallBody(ctx.req) ? resending(ctx) : chain(ctx);
    });
  }
  const chooser = routeSplit(build);
  const split: Handler = (ctx) => {
    ctx.target = chooser.choose(ctx).name;
    return toBackend(ctx);
  };
  const handler = compose(timeoutPolicy({ timeout: rc.timeout }), ...routePolicies(build))(split);
  const status = () => {
    const out: Record<string, unknown> = {};
    for (const [k, fn] of statuses) out[k] = fn();
    return out;
  };
  return { name: rc.name, config: rc, handler, matches: matcher(rc), status, shares: chooser.shares, action: (name) => actions.get(name) };
}

/** The ready endpoints less `avoid` (the one a retry follows), unless nothing else is in rotation. */
function avoiding(ready: readonly Endpoint[], avoid: string, ejected: ReadonlySet<string>): readonly Endpoint[] {
  let others: Endpoint[] | null = null;
  for (const e of ready) if (e.id !== avoid && !ejected.has(e.id)) (others ??= []).push(e);
  return others ?? ready;
}

/**
 * The attempt's own budget: the route's attemptTimeout, cut to what the primary path has left
 * when a fallback keeps the rest (ctx.attemptDeadline); null means the request's remaining budget.
 */
function attemptBudget(ctx: RequestContext, configured: number | null): number | null {
  if (ctx.attemptDeadline === Infinity) return configured;
  const left = ctx.attemptDeadline - performance.now();
  if (left < 1) throw new OutriderError('deadline_exceeded', 'the attempt budget is spent; the rest of the deadline is kept for the fallback', { detail: 'timeout' });
  return configured === null ? left : Math.min(configured, left);
}

/** Every backend a route can send to: its split, its fallbacks and its shadow. */
function backendNames(rc: RouteConfig): Set<string> {
  const names = new Set(rc.backends.map((b) => b.to));
  for (const f of rc.fallback) if (f.kind === 'backend') names.add(f.to);
  if (rc.shadow !== null) names.add(rc.shadow.to);
  return names;
}

function matcher(rc: RouteConfig): Route['matches'] {
  const { path, prefix, methods, headers } = rc.match;
  const methodSet = methods === null ? null : new Set(methods);
  return (method, reqPath, req) => {
    if (prefix ? !reqPath.startsWith(path) : reqPath !== path) return false;
    if (methodSet !== null && !methodSet.has(method)) return false;
    for (const h of headers) {
      const v = req.headers[h.name];
      if (v === undefined) return false;
      if (h.value !== null && (Array.isArray(v) ? !v.includes(h.value) : v !== h.value)) return false;
    }
    return true;
  };
}
