// Canary analysis with automatic rollback or promotion (SPEC §2 `canary`), as a backend policy:
// it wraps each of the route's split backends (inside their breakers, so it sees real
// attempts) and feeds the route's analysis with every attempt's outcome: the canary's on one
// side, every other split backend's on the other. Shadow copies are not traffic and are not
// counted. The analysis owns the route's live weights together with the split (routeWeights),
// and is kept across reloads while the route is unchanged; a changed route starts afresh.
import type { Policy } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { toOutriderError } from '../../proxy/errors.ts';
import { routeWeights } from '../split/index.ts';
import { CanaryAnalysis } from './analysis.ts';
import type { CanaryEvent } from './analysis.ts';

export type { CanaryEvent } from './analysis.ts';

/** The event name on the policy bus. */
export const CANARY_EVENT = 'canary';

export function canaryPolicy(b: RouteBuild, backend: string): Policy | null {
  const cfg = b.route.canary;
  if (cfg === null) return null;
  const isCanary = backend === cfg.backend;
  if (!isCanary && !b.route.backends.some((r) => r.to === backend)) return null;
  const route = b.route.name;
  const events = b.events;
  const analysis = b.persist(`canary:${route}`, JSON.stringify(b.route), () => new CanaryAnalysis(
    route, cfg, routeWeights(b), (e: CanaryEvent) => { events.emit(CANARY_EVENT, e); },
  ));
  if (isCanary) {
    b.addStatus('canary', () => analysis.status());
    b.addAction('canary/reset', () => {
      analysis.reset();
      return analysis.status();
    });
  }
  return (next) => async (ctx) => {
    if (ctx.shadow) return next(ctx);
    const start = performance.now();
    try {
      const reply = await next(ctx);
      const now = performance.now();
      analysis.observe(isCanary, now - start, reply.status >= 500, now);
      return reply;
    } catch (e) {
      // A client that went away says nothing about the backend.
      if (toOutriderError(e).detail !== 'client_closed') {
        const now = performance.now();
        analysis.observe(isCanary, now - start, true, now);
      }
      throw e;
    }
  };
}
