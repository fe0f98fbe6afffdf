// Shadow mirroring with output comparison (SPEC §2 `shadow`), a route policy.
//
// A sampled request (`percent`) is copied to `shadow.to` with the same request id and the
// marker header `x-outrider-shadow: 1`. The shadow can never slow, fail or change the primary:
//  - it is started after the primary is dispatched (the next turn of the event loop);
//  - it runs under its own context: its own AbortController and deadline (`shadow.timeout`, or
//    the primary's remaining budget), so the primary's end does not cut it short and a hung
//    shadow is still bounded;
//  - at most `maxInFlight` shadows per route are in flight; over that, the copy is dropped
//    (and counted) before anything is buffered for it;
//  - its answer is never returned; it goes through the route's chain for its own backend only,
//    so its failures reach that backend's breaker, never the primary's;
//  - the primary's body is teed to the client as it arrives; a copy (up to 2 MiB) is kept.
// When both answered 2xx, the bodies are compared per `compare` (compare.ts); the result and
// the divergence go on the event bus (telemetry: outrider_shadow_requests_total{route,result},
// outrider_shadow_divergence{route}, and a log line per mismatch with the request id).
import type { Handler, Policy, Reply } from '../../proxy/pipeline.ts';
import { discardReply } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { RequestContext } from '../../proxy/context.ts';
import { OutriderError, toOutriderError } from '../../proxy/errors.ts';
import type { ShadowPolicyConfig } from './config.ts';
import { DEFAULT_TOLERANCE, compareBodies } from './compare.ts';
import { readCapped, teeReply } from './capture.ts';

/** The event name on the policy bus. */
export const SHADOW_EVENT = 'shadow';

/** Sent on every shadow copy so the shadow's logs can be told apart and joined (by request id). */
export const SHADOW_HEADER = 'x-outrider-shadow';
const SHADOW_HEADERS: readonly string[] = Object.freeze([SHADOW_HEADER, '1']);

/** The largest body (either side) kept for a comparison. */
export const COMPARE_CAP_BYTES = 2 * 1024 * 1024;

/**
 * match / mismatch: both answered and were compared; error: the shadow failed (transport,
 * timeout, non-2xx, unreadable answer); dropped: not sent, `maxInFlight` were in flight;
 * skipped: sent, but nothing to compare (the primary failed, answered non-2xx, or its body was
 * over the cap or not of the compared kind).
 */
export type ShadowResult = 'match' | 'mismatch' | 'error' | 'dropped' | 'skipped';

export interface ShadowEvent {
  readonly route: string;
  readonly backend: string;
  readonly compare: ShadowPolicyConfig['compare'];
  readonly result: ShadowResult;
  /** Only for match/mismatch with a measurable divergence. */
  readonly divergence: number | null;
  /** For the log line of a mismatch or an error; never a metric label. */
  readonly requestId: string;
  readonly detail: string | null;
}

/** Per-route running totals for /routes, kept across reloads while the shadow config is unchanged. */
export class ShadowStats {
  inFlight = 0;
  /** The shadow requests under way, cut when this state is dropped (shutdown, a changed shadow config). */
  readonly live = new Set<RequestContext>();
  readonly results: Record<ShadowResult, number> = { match: 0, mismatch: 0, error: 0, dropped: 0, skipped: 0 };
  divergenceSum = 0;
  divergenceCount = 0;

  status(cfg: ShadowPolicyConfig): Record<string, unknown> {
    const compared = this.results.match + this.results.mismatch;
    return {
      to: cfg.to,
      percent: cfg.percent,
      compare: cfg.compare,
      inFlight: this.inFlight,
      maxInFlight: cfg.maxInFlight,
      results: { ...this.results },
      // Share of compared pairs that matched (within tolerance): the running agreement rate.
      agreementRate: compared === 0 ? null : Math.round((this.results.match / compared) * 10_000) / 10_000,
      meanDivergence: this.divergenceCount === 0 ? null : this.divergenceSum / this.divergenceCount,
    };
  }

  /** Called by Persistent: copies nobody waits for must not hold up a shutdown (closing the upstream pools waits for them). */
  dispose(): void {
    for (const s of this.live) s.abort(new OutriderError('unavailable', 'the shadow request was cut: its route changed or Outrider is stopping', { detail: CUT }));
    this.live.clear();
  }
}

const CUT = 'shadow_cut';

export function shadowPolicy(b: RouteBuild): Policy | null {
  const cfg = b.route.shadow;
  if (cfg === null || cfg.percent <= 0) return null;
  const route = b.route.name;
  const events = b.events;
  const toBackend = b.toBackend;
  // A primary always has a deadline (the route timeout policy sets one); this bounds its copy regardless.
  const routeTimeout = b.route.timeout;
  const tolerance = cfg.tolerance ?? DEFAULT_TOLERANCE[cfg.compare];
  const stats = b.persist(`shadow:${route}`, JSON.stringify(cfg), () => new ShadowStats());
  b.addStatus('shadow', () => stats.status(cfg));

  const record = (requestId: string, result: ShadowResult, divergence: number | null, detail: string | null): void => {
    stats.results[result]++;
    if (divergence !== null) {
      stats.divergenceSum += divergence;
      stats.divergenceCount++;
    }
    const e: ShadowEvent = { route, backend: cfg.to, compare: cfg.compare, result, divergence, requestId, detail };
    events.emit(SHADOW_EVENT, e);
  };

  /** The shadow's answer body, or why there is none (null: cut short by dispose(), not the shadow's fault). */
  const runShadow = async (ctx: RequestContext): Promise<{ body: Buffer } | { error: string } | null> => {
    const now = performance.now();
    const s = new RequestContext(ctx.id, ctx.req, ctx.res, now);
    s.shadow = true;
    s.route = ctx.route;
    s.body = ctx.body;
    s.maxBodyBytes = ctx.maxBodyBytes;
    s.target = cfg.to;
    s.upstreamHeaders = SHADOW_HEADERS;
    s.traceparent = ctx.traceparent;
    s.tracestate = ctx.tracestate;
    // The last tenth of the budget is spread at random: copies started together (a hung shadow
    // frees its slots all at once) would otherwise all time out together, a burst of aborts
    // that the primaries in flight at that moment would wait behind.
    const budget = cfg.timeout ?? Math.max(1, Math.min(ctx.deadline - now, routeTimeout));
    s.limitBudget(budget * (0.9 + Math.random() * 0.1));
    stats.live.add(s);
    try {
      const reply = await toBackend(s);
      if (reply.status < 200 || reply.status > 299) {
        discardReply(reply);
        return { error: `the shadow answered ${reply.status}` };
      }
      // The shadow's own deadline aborts this read too (undici ties the body to the signal).
      const body = await readCapped(reply.body, COMPARE_CAP_BYTES);
      return body === null ? { error: `the shadow's answer is over ${COMPARE_CAP_BYTES} bytes` } : { body };
    } catch (e) {
      const err = toOutriderError(e);
      if (err.detail === CUT) return null;
      return { error: `${err.code}${err.detail !== undefined ? ` (${err.detail})` : ''}: ${err.message}` };
    } finally {
      stats.live.delete(s);
      s.settle();
    }
  };

  const judge = async (ctx: RequestContext, shadow: Promise<{ body: Buffer } | { error: string } | null>, primary: Promise<Buffer | null> | string): Promise<void> => {
    const [p, s] = await Promise.all([typeof primary === 'string' ? primary : primary.then((x) => x ?? 'the primary body was cut short or is over the comparison cap'), shadow]);
    if (s === null) return;
    if ('error' in s) return record(ctx.id, 'error', null, s.error);
    if (typeof p === 'string') return record(ctx.id, 'skipped', null, p);
    const v = compareBodies(cfg.compare, p, s.body, tolerance);
    if (v.result === 'incomparable') return record(ctx.id, 'skipped', null, v.detail);
    if (v.result === 'shadow-invalid') return record(ctx.id, 'error', null, v.detail);
    record(ctx.id, v.result, v.divergence, v.detail);
  };

  return (next: Handler): Handler => async (ctx) => {
    if (ctx.shadow || Math.random() * 100 >= cfg.percent) return next(ctx);
    if (stats.inFlight >= cfg.maxInFlight) {
      record(ctx.id, 'dropped', null, `${cfg.maxInFlight} shadow requests already in flight`);
      return next(ctx);
    }
    stats.inFlight++;
    try {
      await ctx.readBody();
    } catch (e) {
      stats.inFlight--;
      throw e;
    }
    let primary: Promise<Reply>;
    // The primary's answer is copied for the comparison as it arrives (teeReply).
    ctx.copyReplyUpTo = COMPARE_CAP_BYTES;
    try {
      primary = next(ctx);
    } catch (e) {
      primary = Promise.reject(e);
    }
    // After the primary is on its way: the shadow never goes ahead of it.
    const shadow = new Promise<{ body: Buffer } | { error: string } | null>((resolve) => setImmediate(() => resolve(runShadow(ctx))));
    const done = (): void => { stats.inFlight--; };
    let reply: Reply;
    try {
      reply = await primary;
    } catch (e) {
      judge(ctx, shadow, `the primary failed: ${toOutriderError(e).code}`).then(done, done);
      throw e;
    }
    if (reply.status < 200 || reply.status > 299) {
      judge(ctx, shadow, `the primary answered ${reply.status}`).then(done, done);
      return reply;
    }
    const tee = teeReply(reply, COMPARE_CAP_BYTES);
    judge(ctx, shadow, tee.body).then(done, done);
    return tee.reply;
  };
}
