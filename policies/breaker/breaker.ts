// One circuit breaker (route × backend) on opossum: opossum keeps the rolling window, judges the
// failure rate against `failureRate` once `minRequests` outcomes are in it, and runs the
// open -> half-open -> closed cycle on `openFor`. This class decides what reaches it:
//
// - opossum sees outcomes, not calls: each finished request is fed to it as one `fire` of a
//   judging action. A request cancelled by its client, or failed by its own fault (4xx), proves
//   nothing about the backend and is not fed at all; opossum's errorFilter cannot express that
//   (it counts filtered errors as successes, and a filtered half-open probe closes the breaker).
// - Refusals are decided here, before opossum: a rejected call never enters the window, where it
//   would dilute the failure rate (opossum counts rejections as fires).
// - Half-open lets exactly one probe through; outcomes of requests admitted before the breaker
//   opened, arriving later, are dropped instead of being taken for the probe's.
// - Closing clears the window, so a recovered backend is judged on its new outcomes only.
// - maxConcurrent is a bulkhead counted here (opossum's `capacity` would count its refusals as
//   failures).
// The window rotates on a timer of ours, unref'd so it never keeps the process alive, and
// dispose() stops it when a reload drops the breaker.
import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { RequestContext } from '../../proxy/context.ts';
import type { PolicyEvents } from '../../proxy/events.ts';
import { OutriderError } from '../../proxy/errors.ts';
import type { Handler, Reply } from '../../proxy/pipeline.ts';
import { SHED } from '../shed/events.ts';
import type { ShedEvent } from '../shed/events.ts';
import { BREAKER_BUCKETS } from './config.ts';
import type { BreakerConfig } from './config.ts';
import { BREAKER_DISPOSED, BREAKER_REJECTED, BREAKER_STATE } from './events.ts';
import type { BreakerDisposedEvent, BreakerRejectedEvent, BreakerState, BreakerStateEvent } from './events.ts';

// The action opossum "runs": it only turns an outcome already known into success or failure.
// A failure throws synchronously: opossum then counts it, and opens, inside fire() itself. A
// rejected promise would be counted a few microtasks later, and a retry that follows at once
// (a backoff under 1 ms is not slept) could pass the breaker the failure it follows opens.
const FAILED = new Error('backend failure');
const judge = (failed: boolean): Promise<void> => {
  if (failed) throw FAILED;
  return Promise.resolve();
};
const ignore = (): void => undefined;

type Verdict = 'success' | 'failure' | 'none';

export interface BreakerStatus {
  readonly state: BreakerState;
  /** Outcomes and failures in the rolling window. */
  readonly requests: number;
  readonly failures: number;
  readonly failureRatePercent: number;
  readonly inFlight: number;
  readonly maxConcurrent: number;
  /** While open: seconds until a probe is let through. */
  readonly retryAfterSeconds: number | null;
}

export class Breaker {
  readonly route: string;
  readonly backend: string;
  private readonly cfg: BreakerConfig;
  private readonly events: PolicyEvents;
  private readonly cb: CircuitBreaker<[boolean], void>;
  private readonly rotation = new EventEmitter();
  private readonly ticker: NodeJS.Timeout;
  private state: BreakerState = 'closed';
  private openedAt = 0;
  private probing = false;
  inFlight = 0;
  // Built once: the bulkhead's refusal is thrown as often as needed, and its event never changes.
  private readonly overflow: OutriderError;
  private readonly shed: ShedEvent;

  constructor(route: string, backend: string, cfg: BreakerConfig, events: PolicyEvents) {
    this.route = route;
    this.backend = backend;
    this.cfg = cfg;
    this.events = events;
    this.overflow = new OutriderError('overloaded', `backend "${backend}" has ${cfg.maxConcurrent} requests in flight (breaker.maxConcurrent)`, { detail: 'breaker_concurrency' });
    this.shed = Object.freeze({ reason: 'breaker_concurrency', route, backend });
    this.cb = new CircuitBreaker(judge, {
      name: `${route}/${backend}`,
      timeout: false,                       // the request's deadline and attemptTimeout bound every call
      errorThresholdPercentage: cfg.failureRate,
      volumeThreshold: cfg.minRequests,
      resetTimeout: cfg.openFor,
      rollingCountTimeout: cfg.window,
      rollingCountBuckets: BREAKER_BUCKETS,
      rotateBucketController: this.rotation,
      rollingPercentilesEnabled: false,     // latency lists would be sorted on every failure
      enableSnapshots: false,
    });
    this.ticker = setInterval(() => this.rotation.emit('rotate'), Math.max(1, Math.floor(cfg.window / BREAKER_BUCKETS)));
    this.ticker.unref();
    this.cb.on('open', () => {
      this.openedAt = performance.now();
      this.probing = false;
      this.transition('open');
    });
    this.cb.on('halfOpen', () => {
      this.probing = false;
      this.transition('half-open');
    });
    this.cb.on('close', () => {
      this.probing = false;
      for (let i = 0; i < BREAKER_BUCKETS; i++) this.rotation.emit('rotate');
      this.transition('closed');
    });
    events.emit(BREAKER_STATE, { route, backend, state: 'closed', previous: null } satisfies BreakerStateEvent);
  }

  /** Runs one request to the backend through the breaker; refusals throw 503s with Retry-After. */
  async run(ctx: RequestContext, next: Handler): Promise<Reply> {
    const probe = this.admit();
    this.inFlight++;
    let reply: Reply;
    try {
      reply = await next(ctx);
    } catch (e) {
      this.inFlight--;
      this.record(probe, verdictOf(e, ctx));
      throw e;
    }
    this.inFlight--;
    this.record(probe, reply.status >= 500 ? 'failure' : 'success');
    return reply;
  }

  status(now = performance.now()): BreakerStatus {
    const s = this.cb.stats;
    return {
      state: this.state,
      requests: s.fires,
      failures: s.failures,
      failureRatePercent: s.fires === 0 ? 0 : Math.round((s.failures / s.fires) * 10_000) / 100,
      inFlight: this.inFlight,
      maxConcurrent: this.cfg.maxConcurrent,
      retryAfterSeconds: this.state === 'open' ? this.retryAfter(now) : null,
    };
  }

  /** Called by Persistent when a reload drops this breaker. */
  dispose(): void {
    clearInterval(this.ticker);
    this.cb.shutdown();
    this.events.emit(BREAKER_DISPOSED, { route: this.route, backend: this.backend } satisfies BreakerDisposedEvent);
  }

  /** Whether this request is the half-open probe; throws when it is refused. */
  private admit(): boolean {
    const cb = this.cb;
    let probe = false;
    if (cb.opened) throw this.refuse(this.retryAfter(performance.now()));
    if (cb.halfOpen) {
      if (this.probing) throw this.refuse(1);
      this.probing = probe = true;
    }
    if (this.inFlight >= this.cfg.maxConcurrent) {
      if (probe) this.probing = false;
      this.events.emit(SHED, this.shed);
      throw this.overflow;
    }
    return probe;
  }

  private record(probe: boolean, verdict: Verdict): void {
    if (verdict === 'none') {
      // A probe that proved nothing: the next request probes instead.
      if (probe) this.probing = false;
      return;
    }
    const cb = this.cb;
    if (cb.closed || (probe && cb.halfOpen)) cb.fire(verdict === 'failure').catch(ignore);
  }

  private refuse(retryAfter: number): OutriderError {
    this.events.emit(BREAKER_REJECTED, { route: this.route, backend: this.backend } satisfies BreakerRejectedEvent);
    return new OutriderError('unavailable', `the circuit breaker of backend "${this.backend}" is open`, { detail: 'breaker_open', retryAfter });
  }

  /** Whole seconds until the breaker lets a probe through (RFC 9110 §10.2.3 Retry-After), at least 1. */
  private retryAfter(now: number): number {
    return Math.max(1, Math.ceil((this.openedAt + this.cfg.openFor - now) / 1000));
  }

  private transition(state: BreakerState): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.events.emit(BREAKER_STATE, { route: this.route, backend: this.backend, state, previous } satisfies BreakerStateEvent);
  }
}

/**
 * What a thrown error says about the backend. Failures: connect, reset, invalid response, attempt
 * or deadline timeout, no ready endpoint. Not judged: the client went away, or the request failed
 * on its own account (a 4xx such as a body over maxBodyBytes), or an internal error of Outrider.
 */
function verdictOf(e: unknown, ctx: RequestContext): Verdict {
  if (!(e instanceof OutriderError)) return 'none';
  if (e.detail === 'client_closed' || ctx.bodyError !== null) return 'none';
  const reason = ctx.abortReason as OutriderError | undefined;
  if (ctx.aborted && reason?.detail === 'client_closed') return 'none';
  return e.status >= 500 && e.code !== 'internal' ? 'failure' : 'none';
}
