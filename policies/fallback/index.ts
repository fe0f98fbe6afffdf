// The fallback ladder (SPEC §2 `fallback`), outside retries: when the primary path fails with a
// 5xx (breaker open, no ready endpoint, bulkhead full, attempt or deadline timeout, connect,
// reset, invalid response, or a 5xx reply), the rungs are tried in order (stale cache entry,
// another backend, a static answer), each with what is left of the deadline and never more; the
// first answer wins and says so (x-outrider-degraded, outrider_fallback_total, the access log).
// When none answers: 503 unavailable. A 4xx is the client's own and is returned as is.
//
// To leave the ladder something, a route with no attemptTimeout gives its primary path
// PRIMARY_SHARE of the remaining budget (ctx.attemptDeadline, enforced per attempt in routing.ts),
// and a `to:` rung with rungs after it gets PRIMARY_SHARE of what is left then.
import { requestHasBody } from '../../proxy/context.ts';
import { OutriderError } from '../../proxy/errors.ts';
import type { Policy, Reply } from '../../proxy/pipeline.ts';
import { discardReply } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { PRIMARY_SHARE } from './config.ts';
import { FALLBACK } from './events.ts';
import type { FallbackEvent } from './events.ts';
import { buildRung } from './rungs.ts';
import type { Rung } from './rungs.ts';

export function fallbackPolicy(b: RouteBuild): Policy | null {
  const steps = b.route.fallback;
  if (steps.length === 0) return null;
  const route = b.route.name;
  const rungs = steps.map((s) => buildRung(b, s)).filter((r): r is Rung => r !== null);
  const reserve = b.route.attemptTimeout === null;
  const replays = rungs.some((r) => r.replays);
  const events = b.events;
  b.addStatus('fallback', () => ({ rungs: steps.map((s) => (s.kind === 'backend' ? `to:${s.to}` : s.kind)), primarySharePercent: reserve ? PRIMARY_SHARE * 100 : null }));

  return (next) => async (ctx) => {
    if (reserve) ctx.attemptDeadline = performance.now() + PRIMARY_SHARE * ctx.remaining();
    // A rung that sends the request on replays the body the primary path consumed.
    if (replays && requestHasBody(ctx.req)) await ctx.readBody();
    let cause: string;
    let retryAfter: number | undefined;
    try {
      const reply = await next(ctx);
      if (reply.status < 500) return reply;
      discardReply(reply);
      cause = `status_${reply.status}`;
    } catch (e) {
      // The client's own errors, Outrider's bugs, and a request with no budget or client left pass as they are.
      if (!(e instanceof OutriderError) || e.status < 500 || e.code === 'internal' || ctx.aborted) throw e;
      cause = e.detail ?? e.code;
      if (e.code === 'unavailable' || e.code === 'overloaded') retryAfter = e.retryAfter;
    }
    ctx.avoid = null;
    for (let i = 0; i < rungs.length; i++) {
      const rung = rungs[i]!;
      if (ctx.aborted) break;
      // A backend rung with rungs after it keeps their share too: a hung fallback backend must
      // not eat the time of the static answer below it.
      ctx.attemptDeadline = rung.sendsOn && i < rungs.length - 1 ? performance.now() + PRIMARY_SHARE * ctx.remaining() : Infinity;
      let reply: Reply | null;
      try {
        reply = await rung.answer(ctx);
      } catch {
        continue;
      }
      if (reply === null) continue;
      if (reply.status >= 500 && rung.degraded !== 'static') {
        discardReply(reply);
        continue;
      }
      ctx.degraded = rung.degraded;
      events.emit(FALLBACK, { route, kind: rung.degraded, cause } satisfies FallbackEvent);
      return reply;
    }
    events.emit(FALLBACK, { route, kind: 'exhausted', cause } satisfies FallbackEvent);
    if (ctx.aborted) throw ctx.abortReason;
    throw new OutriderError('unavailable', `route "${route}": the backends failed (${cause}) and no fallback answered`, { detail: 'fallback_exhausted', ...(retryAfter === undefined ? {} : { retryAfter }) });
  };
}
