// Retries (SPEC §2 `retry`): a failed attempt is tried again, on another endpoint when one is
// ready, only when
//   - the failure is one the route lists (`connect`, `reset`, `timeout` of an attempt, or an
//     upstream status such as 503; 4xx are refused by the config: the request itself is at fault),
//   - the request is safe to repeat (see REPLAYABLE) and its body is buffered for replay,
//   - attempts are left, the deadline leaves room for one more (RETRY_TUNING.minAttemptMs),
//   - and the route's retry budget allows it (budget.ts).
// Each retry goes through the split and the backend's breaker again. Outrider's own refusals
// (breaker open, bulkhead full, no ready endpoint) are not retried: the fallback answers them.
import { setTimeout as sleep } from 'node:timers/promises';
import { requestHasBody } from '../../proxy/context.ts';
import { OutriderError } from '../../proxy/errors.ts';
import type { Policy, Reply } from '../../proxy/pipeline.ts';
import { discardReply } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { RetryBudget } from './budget.ts';
import { RETRY_TUNING } from './config.ts';
import type { RetryConfig } from './config.ts';
import { RETRY, RETRY_SKIPPED } from './events.ts';
import type { RetryEvent, RetrySkippedEvent } from './events.ts';

// Methods a retry may repeat. RFC 9110 §9.2.2's idempotent methods, plus POST: a route that
// configures `retry` declares its POSTs safe to repeat, which inference calls are (the answer is
// a function of the input; nothing is created). PATCH and CONNECT are never repeated.
const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE', 'POST']);

export function retryPolicy(b: RouteBuild): Policy | null {
  const cfg = b.route.retry;
  if (cfg === null) return null;
  const route = b.route.name;
  const budget = b.persist(`retry:${route}`, JSON.stringify(cfg), () => new RetryBudget(cfg.budget));
  const when = conditions(cfg);
  const events = b.events;
  b.addStatus('retry', () => ({ attempts: cfg.attempts, on: cfg.on, budgetPercent: cfg.budget, budget: budget.snapshot(performance.now()) }));

  return (next) => async (ctx) => {
    budget.onRequest(performance.now());
    if (!REPLAYABLE.has(ctx.req.method ?? 'GET')) return next(ctx);
    // The body is replayed from memory; buffering is bounded by limits.maxBodyBytes.
    if (requestHasBody(ctx.req)) await ctx.readBody();
    for (let retries = 0; ; retries++) {
      let reply: Reply | null = null;
      let error: unknown = null;
      try {
        reply = await next(ctx);
      } catch (e) {
        error = e;
      }
      const reason = reply !== null ? when.statuses.get(reply.status) ?? null : errorReason(when, error);
      if (reason === null || retries >= cfg.attempts || ctx.aborted) return settle(reply, error);
      const now = performance.now();
      const left = Math.min(ctx.deadline, ctx.attemptDeadline) - now;
      if (left < RETRY_TUNING.minAttemptMs) return skip(events, route, 'deadline', reply, error);
      if (!budget.tryRetry(now)) return skip(events, route, 'budget', reply, error);
      if (reply !== null) discardReply(reply);
      ctx.avoid = ctx.endpoint;
      events.emit(RETRY, { route, reason } satisfies RetryEvent);
      const delay = Math.min(backoff(retries), left - RETRY_TUNING.minAttemptMs);
      if (delay >= 1) await pause(delay, ctx.signal);
    }
  };
}

interface Conditions {
  readonly connect: boolean;
  readonly reset: boolean;
  readonly timeout: boolean;
  /** Status -> the reason word for events, precomputed. */
  readonly statuses: ReadonlyMap<number, string>;
}

function conditions(cfg: RetryConfig): Conditions {
  const statuses = new Map<number, string>();
  for (const c of cfg.on) if (typeof c === 'number' && c >= 500) statuses.set(c, String(c));
  return { connect: cfg.on.includes('connect'), reset: cfg.on.includes('reset'), timeout: cfg.on.includes('timeout'), statuses };
}

/** The listed condition an error matches, from the detail forward.ts sets. */
function errorReason(when: Conditions, e: unknown): string | null {
  if (!(e instanceof OutriderError)) return null;
  switch (e.detail) {
    case 'connect': return when.connect ? 'connect' : null;
    case 'reset': return when.reset ? 'reset' : null;
    // An attempt timeout; the request's own deadline aborts ctx.signal, which ends the loop.
    case 'timeout': return when.timeout && e.code === 'deadline_exceeded' ? 'timeout' : null;
    default: return null;
  }
}

function settle(reply: Reply | null, error: unknown): Reply {
  if (reply !== null) return reply;
  throw error;
}

function skip(events: RouteBuild['events'], route: string, reason: RetrySkippedEvent['reason'], reply: Reply | null, error: unknown): Reply {
  events.emit(RETRY_SKIPPED, { route, reason } satisfies RetrySkippedEvent);
  return settle(reply, error);
}

/** Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): spreads retries of a burst apart. */
function backoff(retries: number): number {
  const cap = Math.min(RETRY_TUNING.maxBackoffMs, RETRY_TUNING.baseBackoffMs * 2 ** retries);
  return Math.random() * cap;
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw signal.reason;
  }
}
