// routes[]: match, deadlines, backends and the policies of each route, with every name a
// route refers to checked against the runtimes and upstreams.

import type { BackendRef, CanaryConfig, FallbackStep, HeaderMatch, RouteCacheConfig, RouteConfig, RouteMatch, ShadowConfig } from './types.ts';
import { closest } from './did-you-mean.ts';
import type { Field } from './field.ts';
import { lowerEntries, lowerKeys } from './headers.ts';

/** How long expired responses stay for a `cache: stale` fallback when `staleFor` is not given. */
const DEFAULT_STALE_FOR = 5 * 60_000;

/** The canary's promotion steps (percent of traffic) when `action: promote` gives none. */
const DEFAULT_PROMOTE_STEPS = [5, 25, 50, 100];

/** Backend names (runtimes and upstreams) a route may refer to. */
export type BackendNames = ReadonlySet<string>;

export function normaliseRoute(f: Field, backends: BackendNames): RouteConfig {
  const timeout = f.get('timeout').duration();
  const attempt = f.get('attemptTimeout');
  const attemptTimeout = attempt.optional((a) => a.duration());
  if (attemptTimeout !== null && attemptTimeout > timeout) {
    attempt.fail(`attemptTimeout (${attempt.string()}) is longer than the route's timeout (${f.get('timeout').string()}), which bounds every attempt`);
  }
  const refs = backendRefs(f.get('backends'), backends);
  return {
    name: f.get('name').string(),
    match: match(f.get('match')),
    timeout,
    attemptTimeout,
    backends: refs,
    retry: f.get('retry').optional((r) => ({
      attempts: r.get('attempts').number(),
      on: r.get('on').list().map((c) => (typeof c.value === 'number' ? c.value : c.string())),
      budget: r.get('budget').number(),
    })),
    breaker: f.get('breaker').optional((b) => ({
      failureRate: b.get('failureRate').number(),
      minRequests: b.get('minRequests').number(),
      window: b.get('window').duration(),
      openFor: b.get('openFor').duration(),
      maxConcurrent: b.get('maxConcurrent').number(),
    })),
    cache: f.get('cache').optional((c) => routeCache(c, f.get('fallback'))),
    embeddingCache: f.get('embeddingCache').optional((c) => ({ ttl: c.get('ttl').duration(0, { timer: false }) })),
    sticky: f.get('sticky').optional((s) => ({ header: s.get('header').string().toLowerCase() })),
    shadow: f.get('shadow').optional((s) => shadow(s, backends)),
    canary: f.get('canary').optional((c) => canary(c, backends, refs)),
    balance: f.get('balance').string('p2c-ewma') as RouteConfig['balance'],
    fallback: fallbackSteps(f, backends),
    maxConcurrent: f.get('maxConcurrent').optional((m) => m.number()),
  };
}

function fallbackSteps(route: Field, backends: BackendNames): FallbackStep[] {
  const steps = route.get('fallback').list();
  if (!route.get('cache').present) {
    for (const step of steps) {
      const stale = step.get('cache');
      if (stale.present && !step.get('to').present && !step.get('static').present) {
        stale.fail('`cache: stale` serves stale entries of the route\'s response cache, and this route has none: add `cache: { ttl: ... }` to the route');
      }
    }
  }
  return steps.map((step) => fallbackStep(step, backends));
}

function routeCache(c: Field, fallback: Field): RouteCacheConfig {
  const staleFor = c.get('staleFor');
  // Expired entries are only worth keeping when a `cache: stale` fallback step can serve them.
  const servesStale = fallback.list().some((s) => s.get('cache').present);
  return {
    ttl: c.get('ttl').duration(0, { timer: false }),
    vary: c.get('vary').list().map((v) => v.string().toLowerCase()),
    staleFor: staleFor.present ? staleFor.duration(0, { timer: false }) : servesStale ? DEFAULT_STALE_FOR : 0,
  };
}

function match(f: Field): RouteMatch {
  const methods = f.get('methods');
  return {
    path: f.get('path').string(),
    prefix: f.get('prefix').boolean(),
    methods: methods.optional((m) => [...new Set(m.list().map((x) => x.string().toUpperCase()))]),
    headers: lowerEntries(f.get('headers')).map(([name, v]): HeaderMatch => ({ name, value: v.value === true ? null : v.string() })),
  };
}

function backendRefs(f: Field, backends: BackendNames): BackendRef[] {
  const seen = new Set<string>();
  const refs: BackendRef[] = [];
  for (const item of f.list()) {
    const to = item.get('to');
    const name = backendName(to, backends);
    if (seen.has(name)) to.fail(`backend \`${name}\` is listed twice in this route; give it one entry with the combined weight`);
    seen.add(name);
    refs.push({ to: name, weight: item.get('weight').number() });
  }
  if (refs.length > 0 && refs.every((r) => r.weight === 0)) f.fail('every weight is 0: at least one backend must take traffic');
  return refs;
}

function shadow(f: Field, backends: BackendNames): ShadowConfig {
  return {
    to: backendName(f.get('to'), backends),
    percent: f.get('percent').number(),
    compare: f.get('compare').string() as ShadowConfig['compare'],
    timeout: f.get('timeout').optional((t) => t.duration()),
    maxInFlight: f.get('maxInFlight').number(64),
    tolerance: f.get('tolerance').optional((t) => t.number()),
  };
}

function canary(f: Field, backends: BackendNames, refs: readonly BackendRef[]): CanaryConfig {
  const at = f.get('backend');
  const backend = at.string();
  if (refs.length > 0 && !refs.some((r) => r.to === backend)) {
    at.fail(`the canary must be one of this route's backends (${refs.map((r) => `\`${r.to}\``).join(', ')}); add it to \`backends\``);
  } else {
    backendName(at, backends);
  }
  const window = f.get('window').duration();
  const action = f.get('action').string() as CanaryConfig['action'];
  const stepsAt = f.get('steps');
  let steps = stepsAt.list().map((s) => s.number());
  if (steps.some((s, i) => i > 0 && s <= steps[i - 1]!)) stepsAt.fail('steps must be increasing weights (percent), e.g. [5, 25, 50, 100]');
  if (steps.length === 0 && action === 'promote') steps = [...DEFAULT_PROMOTE_STEPS];
  return {
    backend,
    window,
    minRequests: f.get('minRequests').number(),
    maxErrorRateDelta: f.get('maxErrorRateDelta').number(),
    maxP99Ratio: f.get('maxP99Ratio').number(),
    action,
    steps,
    stepEvery: f.get('stepEvery').optional((s) => s.duration()) ?? window,
  };
}

function fallbackStep(f: Field, backends: BackendNames): FallbackStep {
  if (f.get('to').present) return { kind: 'backend', to: backendName(f.get('to'), backends) };
  const s = f.get('static');
  if (!s.present) return { kind: 'stale-cache' };

  const json = s.get('json');
  const text = s.get('body');
  if (json.present && text.present) text.fail('give either `json` or `body`, not both');
  const headers = lowerKeys(s.get('headers'));
  const { 'content-type': contentType, ...rest } = headers;
  return {
    kind: 'static',
    status: s.get('status').number(),
    headers: rest,
    body: json.present ? JSON.stringify(json.value) : text.string(),
    contentType: contentType ?? (json.present ? 'application/json' : 'text/plain; charset=utf-8'),
  };
}

/** The name at `f`, after reporting it when no runtime or upstream has it. */
function backendName(f: Field, backends: BackendNames): string {
  const name = f.string();
  if (!f.present || typeof f.value !== 'string' || backends.has(name)) return name;
  const near = closest(name, backends);
  const known = [...backends].map((b) => `\`${b}\``).join(', ');
  const tail = near !== undefined ? `; did you mean \`${near}\`?` : backends.size > 0 ? `; known backends: ${known}` : '; define it under `runtimes` or `upstreams`';
  f.fail(`no runtime or upstream is named \`${name}\`${tail}`);
  return name;
}
