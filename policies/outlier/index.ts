// Outlier ejection (SPEC §2 `upstreams[].outlier`; runtime replicas get RUNTIME_OUTLIER): a
// backend policy inside the breaker that watches each attempt's endpoint. One detector per
// backend, shared by every route sending to it, kept across reloads while its config holds.
//
// What counts against an endpoint: connect and reset errors, invalid responses, timeouts, and
// 5xx replies other than 503. A 503 is a deliberate "busy" (a runtime's full queue, with
// Retry-After): ejecting for it would take capacity away exactly when load is highest; the
// breaker and the retry's endpoint avoidance deal with it instead.
import type { RequestContext } from '../../proxy/context.ts';
import { OutriderError } from '../../proxy/errors.ts';
import type { Policy } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { outlierConfigFor } from './config.ts';
import { OutlierDetector } from './detector.ts';

const ENDPOINT_FAULTS = new Set(['connect', 'reset', 'invalid_response', 'upstream', 'timeout']);

const byRoute = new WeakMap<RouteBuild, Map<string, OutlierDetector>>();

export function outlierPolicy(b: RouteBuild, backend: string): Policy | null {
  const cfg = outlierConfigFor(b.config, backend);
  const set = b.backends.get(backend);
  if (cfg === null || set === undefined) return null;
  const detector = b.persist(`outlier:${backend}`, JSON.stringify(cfg), () => new OutlierDetector(backend, cfg, set, b.balancers.for(backend), b.events));
  let mine = byRoute.get(b);
  if (mine === undefined) {
    const detectors = mine = new Map();
    byRoute.set(b, detectors);
    b.addStatus('outlier', () => {
      const now = performance.now();
      const out: Record<string, unknown> = {};
      for (const [name, d] of detectors) out[name] = { consecutiveFailures: d.cfg.consecutiveFailures, ejectForMs: d.cfg.ejectFor, ejected: d.ejected(now) };
      return out;
    });
  }
  mine.set(backend, detector);

  return (next) => async (ctx) => {
    // Set by forward once an endpoint is picked: a failure before that is nobody's.
    ctx.endpoint = null;
    try {
      const reply = await next(ctx);
      if (ctx.endpoint !== null) {
        if (reply.status >= 500 && reply.status !== 503) detector.failure(ctx.endpoint);
        else detector.success(ctx.endpoint);
      }
      return reply;
    } catch (e) {
      if (ctx.endpoint !== null && endpointAtFault(e, ctx)) detector.failure(ctx.endpoint);
      throw e;
    }
  };
}

function endpointAtFault(e: unknown, ctx: RequestContext): boolean {
  if (!(e instanceof OutriderError) || e.detail === undefined || !ENDPOINT_FAULTS.has(e.detail)) return false;
  // A client that went away, or a body it never finished, says nothing about the endpoint.
  const reason = ctx.abortReason as OutriderError | undefined;
  return ctx.bodyError === null && !(ctx.aborted && reason?.detail === 'client_closed');
}
