// The route table: built once per config load (every route's policy chain composed then), and
// swapped whole on reload. Requests finish on the table they started with.
import type { IncomingMessage } from 'node:http';
import type { BackendSet, Endpoint } from '../runtime/types.ts';
import type { Config, RouteConfig, UpstreamConfig } from './config/types.ts';
import { OutriderError } from './errors.ts';
import type { Handler } from './pipeline.ts';
import { compose } from './pipeline.ts';
import type { Balancers } from './balance.ts';
import type { Forwarder } from './forward.ts';
import { timeoutPolicy } from '../policies/timeout/index.ts';
import { weightedChooser } from '../policies/split/index.ts';

export interface Route {
  readonly name: string;
  readonly config: RouteConfig;
  readonly handler: Handler;
  matches(method: string, path: string, req: IncomingMessage): boolean;
}

export interface RouteTable {
  readonly config: Config;
  readonly routes: readonly Route[];
  /** The backend sets the routes use, by name (for /routes). */
  readonly backends: ReadonlyMap<string, BackendSet>;
  match(req: IncomingMessage, path: string): Route | null;
}

export interface RoutingDeps {
  /** A runtime's live endpoint set, by name. */
  readonly runtime: (name: string) => BackendSet | undefined;
  readonly forwarder: Forwarder;
  readonly balancers: Balancers;
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
    // The config loader checked the names; a missing runtime here is a wiring bug, caught at load.
    if (set === undefined) throw new Error(`runtime "${r.name}" has no endpoint set`);
    backends.set(r.name, set);
  }
  const routes = config.routes.map((rc) => buildRoute(rc, backends, deps));
  return {
    config,
    routes,
    backends,
    match(req, path) {
      const method = req.method ?? 'GET';
      for (const r of routes) if (r.matches(method, path, req)) return r;
      return null;
    },
  };
}

function buildRoute(rc: RouteConfig, backends: ReadonlyMap<string, BackendSet>, deps: RoutingDeps): Route {
  const choose = weightedChooser(rc.backends.map((b) => ({ set: backends.get(b.to)!, weight: b.weight })), rc.name);
  const { forwarder, balancers } = deps;
  const terminal: Handler = (ctx) => {
    const set = choose();
    const picker = balancers.for(set.name);
    const endpoint = picker.pick(set.endpoints());
    if (endpoint === null) throw new OutriderError('unavailable', `no ready endpoint for backend "${set.name}"`, { detail: 'no_endpoint' });
    return forwarder.forward(ctx, endpoint, picker, rc.attemptTimeout);
  };
  const handler = compose(timeoutPolicy({ timeout: rc.timeout }))(terminal);
  return { name: rc.name, config: rc, handler, matches: matcher(rc) };
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
