// Canary analysis for one route: the canary backend's error rate and p99 latency against the
// rest of the route's backends (the baseline) over a sliding window. Judged once both sides
// have seen `minRequests` in the window; a breach rolls the canary's weight to 0 live. With
// `action: promote`, a healthy canary is stepped up through `steps` every `stepEvery`.
import type { LiveWeights } from '../split/weights.ts';
import type { CanaryPolicyConfig } from './config.ts';
import { SlidingWindow } from './window.ts';
import type { WindowSummary } from './window.ts';

/** How often the verdict is recomputed, at most (it is driven by observations). */
const EVALUATE_EVERY_MS = 100;

/**
 * Latencies under this are compared as this: sub-millisecond jitter (loopback, cache hits) must
 * not read as a 2× regression.
 */
export const P99_FLOOR_MS = 1;

export type CanaryState = 'observing' | 'healthy' | 'promoting' | 'promoted' | 'rolled-back';

/** What the analysis tells the event bus (telemetry counts and logs it). */
export interface CanaryEvent {
  readonly route: string;
  readonly backend: string;
  readonly action: 'rollback' | 'step' | 'promoted' | 'reset';
  readonly weightPercent: number;
  readonly reason: string;
}

export interface CanaryVerdictSide {
  readonly requests: number;
  readonly errorRatePercent: number;
  readonly p99Ms: number;
}

export class CanaryAnalysis {
  private readonly route: string;
  private readonly cfg: CanaryPolicyConfig;
  private readonly weights: LiveWeights;
  private readonly emit: (e: CanaryEvent) => void;
  private readonly canary: SlidingWindow;
  private readonly baseline: SlidingWindow;
  private readonly steps: readonly number[];
  private state: CanaryState = 'observing';
  private reason: string | null = null;
  private changedAt = 0;
  private lastEvaluation = -Infinity;
  /** An evaluation owed to attempts observed between two evaluations (see observe). */
  private pending: NodeJS.Timeout | null = null;
  private lastStepAt = 0;
  /** Canary requests since the last promotion step: each step is earned at its own weight. */
  private sinceStep = 0;
  private lastCanary: WindowSummary = { requests: 0, errors: 0, p99Ms: 0 };
  private lastBaseline: WindowSummary = { requests: 0, errors: 0, p99Ms: 0 };

  constructor(route: string, cfg: CanaryPolicyConfig, weights: LiveWeights, emit: (e: CanaryEvent) => void, now = performance.now()) {
    this.route = route;
    this.cfg = cfg;
    this.weights = weights;
    this.emit = emit;
    this.canary = new SlidingWindow(cfg.window);
    this.baseline = new SlidingWindow(cfg.window);
    this.steps = cfg.action === 'promote' ? cfg.steps : [];
    this.start(now);
  }

  /** One completed attempt on the route: to the canary (`canary: true`) or to another split backend. */
  observe(canary: boolean, ms: number, error: boolean, now: number): void {
    if (this.state === 'rolled-back' || this.state === 'promoted') return;
    (canary ? this.canary : this.baseline).record(ms, error, now);
    if (canary) this.sinceStep++;
    const since = now - this.lastEvaluation;
    if (since >= EVALUATE_EVERY_MS) {
      this.evaluate(now);
      return;
    }
    // Attempts seen since the last verdict are judged when the next one is due even if no more
    // come: a burst that crosses minRequests and then stops must still be rolled back. The
    // verdict is for that due time on the callers' clock (`now`'s).
    if (this.pending === null) {
      const due = this.lastEvaluation + EVALUATE_EVERY_MS;
      this.pending = setTimeout(() => this.evaluate(due), due - now);
      this.pending.unref();
    }
  }

  /** Recomputes the verdict now (observe() does, at most every 100 ms). */
  evaluate(now: number): void {
    if (this.pending !== null) {
      clearTimeout(this.pending);
      this.pending = null;
    }
    if (this.state === 'rolled-back' || this.state === 'promoted') return;
    this.lastEvaluation = now;
    const c = this.canary.summary(now);
    const b = this.baseline.summary(now);
    this.lastCanary = c;
    this.lastBaseline = b;
    const min = this.cfg.minRequests;
    if (c.requests < min || b.requests < min) {
      if (this.state === 'healthy') this.set('observing', null, now);
      return;
    }
    const errorDelta = percent(c.errors, c.requests) - percent(b.errors, b.requests);
    if (errorDelta > this.cfg.maxErrorRateDelta) {
      return this.rollback(now, `error rate ${fmt(percent(c.errors, c.requests))}% is ${fmt(errorDelta)} points above the other backends' ${fmt(percent(b.errors, b.requests))}% (limit ${this.cfg.maxErrorRateDelta}) over ${c.requests} canary requests`);
    }
    const ratio = Math.max(c.p99Ms, P99_FLOOR_MS) / Math.max(b.p99Ms, P99_FLOOR_MS);
    if (ratio > this.cfg.maxP99Ratio) {
      return this.rollback(now, `p99 latency ${fmt(c.p99Ms)} ms is ${fmt(ratio)}× the other backends' ${fmt(b.p99Ms)} ms (limit ${this.cfg.maxP99Ratio}×) over ${c.requests} canary requests`);
    }
    if (this.nextStep() === undefined) {
      // Nothing (more) to promote to: keep watching, a later breach still rolls back.
      if (this.state !== 'healthy') this.set('healthy', this.reason, now);
      return;
    }
    if (this.state !== 'promoting') this.set('promoting', this.reason, now);
    if (now - this.lastStepAt >= this.cfg.stepEvery && this.sinceStep >= min) this.step(now);
  }

  /** The promotion step above the canary's share now, if any. */
  private nextStep(): number | undefined {
    const share = this.weights.sharePercent(this.cfg.backend);
    // Float slack: a share set to 25% may read back as 24.999...
    return this.steps.find((s) => s > share + 1e-9);
  }

  /** Back to the configured weights and a fresh analysis (admin, after a rollback). */
  reset(now = performance.now()): void {
    this.canary.clear();
    this.baseline.clear();
    this.weights.restore();
    this.start(now);
    this.emit({ route: this.route, backend: this.cfg.backend, action: 'reset', weightPercent: this.weights.sharePercent(this.cfg.backend), reason: 'reset by an operator' });
  }

  status(now = performance.now()): Record<string, unknown> {
    return {
      backend: this.cfg.backend,
      action: this.cfg.action,
      state: this.state,
      reason: this.reason,
      sinceMs: Math.round(now - this.changedAt),
      weightPercent: round2(this.weights.sharePercent(this.cfg.backend)),
      steps: this.steps.length > 0 ? this.steps : undefined,
      windowMs: this.cfg.window,
      minRequests: this.cfg.minRequests,
      limits: { maxErrorRateDelta: this.cfg.maxErrorRateDelta, maxP99Ratio: this.cfg.maxP99Ratio },
      canary: side(this.lastCanary),
      baseline: side(this.lastBaseline),
    };
  }

  get currentState(): CanaryState {
    return this.state;
  }

  private start(now: number): void {
    this.state = 'observing';
    this.reason = null;
    this.changedAt = now;
    this.lastStepAt = now;
    this.sinceStep = 0;
    this.lastEvaluation = -Infinity;
    this.lastCanary = { requests: 0, errors: 0, p99Ms: 0 };
    this.lastBaseline = { requests: 0, errors: 0, p99Ms: 0 };
    // A promoted canary configured at weight 0 would never be seen: it starts at the first step.
    if (this.steps.length > 0 && this.weights.get(this.cfg.backend) === 0) this.weights.setShare(this.cfg.backend, this.steps[0]!);
  }

  private rollback(now: number, why: string): void {
    this.weights.setShare(this.cfg.backend, 0);
    this.set('rolled-back', why, now);
    this.emit({ route: this.route, backend: this.cfg.backend, action: 'rollback', weightPercent: 0, reason: why });
  }

  private step(now: number): void {
    const share = this.weights.sharePercent(this.cfg.backend);
    const next = this.nextStep()!;
    this.lastStepAt = now;
    this.sinceStep = 0;
    this.weights.setShare(this.cfg.backend, next);
    const why = `healthy at ${fmt(share)}% over ${this.lastCanary.requests} canary requests: stepped up to ${fmt(next)}%`;
    if (next >= 100) {
      // The other backends take no traffic any more: there is nothing left to compare against.
      this.set('promoted', why, now);
      this.emit({ route: this.route, backend: this.cfg.backend, action: 'promoted', weightPercent: 100, reason: why });
      return;
    }
    this.reason = why;
    this.emit({ route: this.route, backend: this.cfg.backend, action: 'step', weightPercent: next, reason: why });
  }

  private set(state: CanaryState, reason: string | null, now: number): void {
    this.state = state;
    this.reason = reason;
    this.changedAt = now;
  }
}

function percent(part: number, whole: number): number {
  return whole === 0 ? 0 : (part / whole) * 100;
}

function side(s: WindowSummary): CanaryVerdictSide {
  return { requests: s.requests, errorRatePercent: round2(percent(s.errors, s.requests)), p99Ms: round2(s.p99Ms) };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function fmt(n: number): string {
  return String(round2(n));
}
