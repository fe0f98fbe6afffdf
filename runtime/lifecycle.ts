// The per-replica state machine shared by every runtime kind (SPEC §5 state names):
//
//   stopped -> starting -> warming -> ready -> draining -> stopped
//                  \          \         \
//                   +----------+---------+--> crashed -> backoff -> starting
//
// This file knows nothing about processes: it holds the state, validates transitions,
// and owns the two timers (the restart backoff and the "stayed ready long enough" reset).
import type { ReplicaState } from './types.ts';

const NEXT: Readonly<Record<ReplicaState, readonly ReplicaState[]>> = {
  // `stopped -> starting` is the first start of a fresh replica; a replica that reached
  // `stopped` through stop() is never started again (the driver creates a new one).
  stopped: ['starting'],
  // A runtime without warmup work may report ready straight from starting.
  starting: ['warming', 'ready', 'crashed', 'draining'],
  warming: ['ready', 'crashed', 'draining'],
  ready: ['crashed', 'draining'],
  // crashed: the failure is known and the process is being reaped; stop() during that
  // wait ends in stopped instead of a restart.
  crashed: ['backoff', 'stopped'],
  backoff: ['starting', 'stopped'],
  draining: ['stopped'],
};

export function canTransition(from: ReplicaState, to: ReplicaState): boolean {
  return NEXT[from].includes(to);
}

/**
 * "Decorrelated jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter"):
 * delay = min(max, random_between(min, previous * 3)). It spreads replicas that crashed
 * together (a bad GPU, a full disk) as well as full jitter does while growing less abruptly.
 * The first restart after a healthy spell waits exactly `min`: a one-off crash (an OOM kill,
 * a stray signal) should cost no more than the configured floor; repeats are jittered.
 */
export class DecorrelatedBackoff {
  private readonly min: number;
  private readonly max: number;
  private readonly random: () => number;
  private previous: number;
  private fresh = true;

  constructor(min: number, max: number, random: () => number = Math.random) {
    if (!(min >= 0) || !(max >= min)) throw new RangeError(`backoff needs 0 <= min <= max, got min=${min} max=${max}`);
    this.min = min;
    this.max = max;
    this.random = random;
    this.previous = min;
  }

  next(): number {
    if (this.fresh) {
      this.fresh = false;
      this.previous = this.min;
      return this.min;
    }
    // A zero minimum would keep `previous * 3` at zero forever; grow from 1 ms instead.
    const upper = Math.min(this.max, Math.max(this.previous, 1) * 3);
    const delay = Math.min(this.max, Math.round(this.min + this.random() * Math.max(0, upper - this.min)));
    this.previous = delay;
    return delay;
  }

  reset(): void {
    this.previous = this.min;
    this.fresh = true;
  }
}

export interface LifecycleOptions {
  readonly minBackoff: number;
  readonly maxBackoff: number;
  /** A replica ready this long without crashing is healthy again: the backoff starts over. */
  readonly stableAfter: number;
  readonly random?: () => number;
  readonly onChange: (state: ReplicaState, previous: ReplicaState, reason: string | undefined) => void;
  /**
   * The state is now `starting`: launch the next attempt. `readyNotBefore` (epoch ms) is the end
   * of the backoff, which a launch started ahead of it (see backoff()) must not be ready before.
   */
  readonly onRestart: (readyNotBefore: number) => void;
}

export class Lifecycle {
  private current: ReplicaState = 'stopped';
  private restartCount = 0;
  private error: string | null = null;
  private restartDue: number | null = null;
  private readonly backoffDelays: DecorrelatedBackoff;
  private readonly opts: LifecycleOptions;
  private backoffTimer: NodeJS.Timeout | null = null;
  private stableTimer: NodeJS.Timeout | null = null;

  constructor(opts: LifecycleOptions) {
    this.opts = opts;
    this.backoffDelays = new DecorrelatedBackoff(opts.minBackoff, opts.maxBackoff, opts.random);
  }

  get state(): ReplicaState { return this.current; }
  get restarts(): number { return this.restartCount; }
  get lastError(): string | null { return this.error; }
  /** Epoch ms of the pending restart while in backoff, else null. */
  get restartAt(): number | null { return this.restartDue; }

  can(next: ReplicaState): boolean {
    return canTransition(this.current, next);
  }

  to(next: ReplicaState, reason?: string): void {
    const previous = this.current;
    if (!canTransition(previous, next)) throw new Error(`illegal replica transition ${previous} -> ${next}`);
    this.current = next;
    if (previous === 'ready') this.clearStable();
    if (previous === 'backoff') this.clearBackoff();
    if (next === 'ready') this.armStable();
    this.opts.onChange(next, previous, reason);
  }

  crash(reason: string): void {
    this.error = reason;
    this.to('crashed', reason);
  }

  /** Append what was learnt after the crash (its process's last words) to the last error. */
  explain(detail: string): void {
    if (this.error !== null) this.error = `${this.error} (${detail})`;
  }

  /**
   * crashed -> backoff; then -> starting and onRestart(). Returns the delay: the time out of
   * rotation before the replica may serve again. `bootAheadMs` (what the last start took to
   * become ready) starts the next attempt that much before the delay ends, so that it is ready
   * when it ends rather than a whole start later; it is held to half the delay, so attempts of
   * a crash loop are still spaced by at least half their backoff.
   */
  backoff(bootAheadMs = 0): number {
    const delay = this.backoffDelays.next();
    const due = Date.now() + delay;
    this.restartDue = due;
    this.to('backoff', this.error ?? undefined);
    const ahead = Math.min(Math.max(0, bootAheadMs), delay / 2);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = null;
      this.restartCount++;
      this.to('starting', 'restart');
      this.opts.onRestart(due);
    }, Math.round(delay - ahead));
    return delay;
  }

  private armStable(): void {
    this.stableTimer = setTimeout(() => {
      this.stableTimer = null;
      this.backoffDelays.reset();
    }, this.opts.stableAfter);
    // Only bookkeeping: it must not keep a process alive on its own.
    this.stableTimer.unref();
  }

  private clearStable(): void {
    if (this.stableTimer !== null) clearTimeout(this.stableTimer);
    this.stableTimer = null;
  }

  private clearBackoff(): void {
    if (this.backoffTimer !== null) clearTimeout(this.backoffTimer);
    this.backoffTimer = null;
    this.restartDue = null;
  }
}
