// The route's response cache (SPEC §2 route `cache`, §3 x-outrider-cache), the outermost route
// policy: fresh entries are answered at once (`hit`), identical requests in flight are
// coalesced onto one backend call (`coalesced`), and successful answers are stored in the
// shared byte-bounded store, kept `staleFor` past their TTL for the fallback's `cache: stale`.
import type { RequestContext } from '../../proxy/context.ts';
import type { Handler, Policy, Reply } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { collectBody } from './body.ts';
import { CACHEABLE_METHODS } from './config.ts';
import { requestMode, responseVaries, shareable, storableFor } from './control.ts';
import { decodeEntry, decodeStored, encodeEntry, readEntry, replyFromEntry, variesMatch } from './entry.ts';
import type { Entry } from './entry.ts';
import { Flights, untilAborted } from './flight.ts';
import type { Outcome } from './flight.ts';
import { routeKeyer } from './key.ts';
import type { RequestKey } from './key.ts';
import { CacheStats } from './stats.ts';

const PASS: Outcome = Object.freeze({ kind: 'pass' });

export function cachePolicy(b: RouteBuild): Policy | null {
  const cfg = b.route.cache;
  if (cfg === null) return null;
  const route = b.route.name;
  const store = b.cache;
  const maxEntry = b.config.cache.maxEntryBytes;
  const keyOf = routeKeyer(b, cfg.vary);
  // A backend that echoes the request id would otherwise hand the first caller's id to every hit.
  const unstored = new Set([b.config.requestId.header]);
  // With `authorization` in the key, each caller has entries of its own (RFC 9111 §3.5 no longer applies).
  const keysCredentials = cfg.vary.includes('authorization');
  const flights = b.persist(`cache:flights:${route}`, '', () => new Flights());
  const stats = b.persist(`cache:stats:${route}`, '', () => new CacheStats(route, b.events));
  b.addStatus('cache', () => ({ ttlMs: cfg.ttl, staleForMs: cfg.staleFor, vary: cfg.vary, inFlight: flights.size, ...stats.report(), store: store.describe() }));

  const fresh = (e: Entry | null, now: number): Entry | null => (e !== null && e.freshUntil > now ? e : null);

  /** A fresh entry for this request in this process's tier, read without waiting. */
  const freshHere = (key: string, headers: RequestContext['req']['headers']): Entry | null => {
    const local = store.peek(key);
    const e = local === null ? null : decodeStored(local);
    return e !== null && variesMatch(e, headers) ? fresh(e, Date.now()) : null;
  };

  /** Remembers the canonical key under the request's exact bytes, next to an entry there. */
  const remember = (rk: RequestKey, ttl: number): void => {
    if (rk.alias !== null) store.setLocal(rk.alias, Buffer.from(rk.key, 'latin1'), ttl);
  };

  const hit = (ctx: RequestContext, e: Entry, rk: RequestKey): Reply => {
    remember(rk, e.freshUntil - Date.now());
    ctx.cacheStatus = 'hit';
    ctx.backend = e.backend;
    stats.record('hit');
    return replyFromEntry(e, true);
  };

  /**
   * The backend's answer, stored when it may be, and what waiters get. The leader's own reply is
   * rebuilt from the encoded entry when there is one, so the edge never mutates stored headers.
   */
  const settle = async (ctx: RequestContext, reply: Reply, rk: RequestKey): Promise<{ reply: Reply; outcome: Outcome }> => {
    const stale = answeredStale(ctx);
    const degraded = ctx.degraded;
    const status = reply.status;
    // A backend failure is not an answer for the waiters: one of them tries again.
    if (degraded === null && !stale && (status >= 500 || status === 408 || status === 429)) return { reply, outcome: { kind: 'retry' } };
    const authorized = !keysCredentials && ctx.req.headers.authorization !== undefined;
    const lifetime = degraded !== null || stale ? 0 : storableFor(status, reply.headers, cfg.ttl, authorized);
    if (lifetime === 0 && !shareable(reply.headers, authorized)) return { reply, outcome: PASS };
    const got = await collectBody(reply, maxEntry, ctx.signal);
    if (got.kind === 'too-large') return { reply: { status, headers: reply.headers, body: got.body }, outcome: PASS };
    const now = Date.now();
    const encoded = encodeEntry({
      status,
      storedAt: now,
      freshUntil: now + lifetime,
      initialAge: initialAge(reply.headers),
      backend: ctx.backend,
      varies: responseVaries(reply.headers, ctx.req.headers, cfg.vary),
      headers: reply.headers,
      body: got.chunks.length === 1 ? got.chunks[0]! : Buffer.concat(got.chunks, got.size),
    }, unstored);
    if (lifetime > 0) {
      store.set(rk.key, encoded, lifetime + cfg.staleFor);
      remember(rk, lifetime + cfg.staleFor);
    }
    return { reply: replyFromEntry(decodeEntry(encoded)!, stale), outcome: { kind: 'entry', entry: encoded, stale, degraded } };
  };

  const lead = async (ctx: RequestContext, next: Handler, rk: RequestKey): Promise<Reply> => {
    const key = rk.key;
    const flight = flights.lead(key);
    let outcome: Outcome = { kind: 'retry' };
    try {
      const settled = await settle(ctx, await next(ctx), rk);
      outcome = settled.outcome;
      stats.record(answeredStale(ctx) ? 'stale' : 'miss');
      return settled.reply;
    } finally {
      flights.end(key, flight, outcome);
    }
  };

  const follow = (ctx: RequestContext, o: Extract<Outcome, { kind: 'entry' }>): Reply | null => {
    const e = decodeEntry(o.entry);
    if (e === null || !variesMatch(e, ctx.req.headers)) return null;
    ctx.cacheStatus = o.stale ? 'stale' : 'coalesced';
    ctx.degraded = o.degraded;
    ctx.backend = e.backend;
    stats.record(o.stale ? 'stale' : 'coalesced');
    return replyFromEntry(e, o.stale);
  };

  return (next) => async (ctx) => {
    ctx.cacheStatus = 'miss';
    const method = ctx.req.method ?? 'GET';
    const mode = CACHEABLE_METHODS.has(method) ? requestMode(ctx.req.headers) : 'bypass';
    if (mode === 'bypass') {
      stats.record('bypass');
      return next(ctx);
    }
    const rk = keyOf({ method, url: ctx.req.url ?? '/', headers: ctx.req.headers, body: await ctx.readBody() });
    const key = rk.key;
    ctx.cacheKey = key;
    if (mode === 'revalidate') {
      const { reply } = await settle(ctx, await next(ctx), rk);
      stats.record(answeredStale(ctx) ? 'stale' : 'miss');
      return reply;
    }
    for (;;) {
      let flight = flights.get(key);
      if (flight === undefined) {
        // This process's tier first, without waiting a turn: a hit there is the common case.
        const near = freshHere(key, ctx.req.headers);
        if (near !== null) return hit(ctx, near, rk);
        const e = fresh(await readEntry(store, key, ctx.req.headers), Date.now());
        if (e !== null) return hit(ctx, e, rk);
        flight = flights.get(key);
        if (flight === undefined) {
          // A leader may have stored and finished while the read above waited on Redis.
          const stored = freshHere(key, ctx.req.headers);
          if (stored !== null) return hit(ctx, stored, rk);
          return lead(ctx, next, rk);
        }
      }
      const outcome = await untilAborted(flight.done, ctx.signal);
      if (outcome.kind === 'entry') {
        const reply = follow(ctx, outcome);
        if (reply !== null) return reply;
        // The response varies on a header this waiter sends differently: it needs its own answer.
        stats.record('miss');
        return next(ctx);
      }
      if (outcome.kind === 'pass') {
        stats.record('miss');
        return next(ctx);
      }
    }
  };
}

/** Whether the fallback's `cache: stale` step answered (layers below reassign ctx.cacheStatus). */
function answeredStale(ctx: RequestContext): boolean {
  return ctx.cacheStatus === 'stale';
}

/** The origin's Age (RFC 9111 §5.1), which the age we send adds to. */
function initialAge(headers: readonly string[]): number {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === 'age') {
      const n = Number(headers[i + 1]);
      return Number.isInteger(n) && n >= 0 ? n : 0;
    }
  }
  return 0;
}
