// Circuit breakers (SPEC §2 `breaker`), one per route × backend: a backend policy wrapping that
// backend's endpoint pick and forward, so fallbacks and retries sent to a backend meet its
// breaker too. State survives reloads while the route, backend and breaker config are unchanged.
import type { Policy } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { Breaker } from './breaker.ts';

// The /routes section lists every backend's breaker of the route; the factory runs per backend.
const byRoute = new WeakMap<RouteBuild, Map<string, Breaker>>();

export function breakerPolicy(b: RouteBuild, backend: string): Policy | null {
  const cfg = b.route.breaker;
  if (cfg === null) return null;
  const route = b.route.name;
  const breaker = b.persist(`breaker:${route}/${backend}`, JSON.stringify(cfg), () => new Breaker(route, backend, cfg, b.events));
  let mine = byRoute.get(b);
  if (mine === undefined) {
    const breakers = mine = new Map();
    byRoute.set(b, breakers);
    b.addStatus('breaker', () => {
      const now = performance.now();
      const out: Record<string, unknown> = {};
      for (const [name, br] of breakers) out[name] = br.status(now);
      return out;
    });
  }
  mine.set(backend, breaker);
  return (next) => (ctx) => breaker.run(ctx, next);
}
