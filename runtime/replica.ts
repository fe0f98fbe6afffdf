// One replica of a runtime, driven through the lifecycle by a kind-specific adapter.
// The adapter knows how to spawn its kind, when it listens, how it warms and how it is
// stopped; this file decides what each of those events means for the replica's state.
import type { RestartConfig } from '../proxy/config/types.ts';
import { formatMs } from './format-ms.ts';
import { Lifecycle } from './lifecycle.ts';
import type { Adopted } from './standby.ts';
import type { Endpoint, ReplicaState, ReplicaStatus } from './types.ts';

export type LogStream = 'stdout' | 'stderr';

/** What one launched attempt reports. Calls after `exited` are ignored. */
export interface LaunchEvents {
  /** The address it serves on is known (it may not be healthy yet). */
  listening(origin: string): void;
  warming(): void;
  ready(warmupSeconds: number): void;
  /** Alive but broken (unhealthy, failed warmup, a fatal report): take it out and kill it. */
  failed(reason: string): void;
  /** Gone: for process runtimes, the whole process group. */
  exited(reason: string): void;
  /** Learnt after `exited` (output still in the pipe then): more about why it ended. */
  explain(detail: string): void;
  log(stream: LogStream, line: string): void;
}

/** One spawned attempt. drain() and kill() resolve once it has exited and never reject. */
export interface Launch {
  readonly pid: number | null;
  /** Finish in-flight work, then escalate to signals after the runtime's stopGrace. */
  drain(): Promise<void>;
  /** It is broken: signals right away, SIGKILL after stopGrace. */
  kill(): Promise<void>;
  /** The worker's own prom-client registry as JSON; null when it has none or did not answer. */
  metrics(timeoutMs: number): Promise<unknown[] | null>;
  /** Zeroes the worker's own metrics, where it keeps any. */
  resetMetrics?(): void;
}

export interface ReplicaAdapter {
  /** CUDA_VISIBLE_DEVICES this replica is given, null when inherited. */
  readonly device: string | null;
  /** Resolves once the process is spawned; a rejection is a failed start. */
  launch(events: LaunchEvents): Promise<Launch>;
}

export interface ReplicaHooks {
  state(replica: Replica, state: ReplicaState, previous: ReplicaState, reason: string | undefined): void;
  restart(replica: Replica): void;
  warmup(replica: Replica, seconds: number): void;
  log(replica: Replica, stream: LogStream, line: string): void;
  /**
   * A ready replica left rotation for a graceful stop: resolves once the proxy has no request
   * in flight to `origin` and no connection open to it (bounded; never rejects). Only then is
   * the server told to stop, so its close of idle keep-alive connections cannot race a request
   * the proxy is writing on one.
   */
  release(replica: Replica, origin: string): Promise<void>;
  /**
   * A restart (its backoff over) may take over a ready spare process (runtime/standby.ts)
   * instead of launching one: the spare's events go to `sink` from then on. Null: launch.
   */
  adopt?(replica: Replica, sink: LaunchEvents): Adopted | null;
}

interface Attempt {
  proc: Launch | null;
  exited: boolean;
  /** performance.now() when it was launched; null for a spare taken over (its start is not this replica's). */
  readonly launchedAt: number | null;
}

export class Replica {
  readonly runtime: string;
  readonly index: number;
  readonly id: string;
  /** Its generation's stopGrace: bounds the wait for the proxy to let go of it, then its drain. */
  readonly stopGrace: number;
  private readonly adapter: ReplicaAdapter;
  private readonly hooks: ReplicaHooks;
  private readonly lc: Lifecycle;
  private attempt: Attempt | null = null;
  /** The attempt whose own exit was the last crash, so a late explanation lands on the right error. */
  private crashedByExit: Attempt | null = null;
  private origin: string | null = null;
  private warmupSeconds: number | null = null;
  private readyEndpoint: Endpoint | null = null;
  private stopping: Promise<void> | null = null;
  private markStopped: () => void = () => {};
  /** restart.bootAhead, for a runtime without spares (a spare taken over needs no head start). */
  private readonly bootAhead: boolean;
  /** What the last launched attempt took from its launch to ready (ms): the head start of the next restart. */
  private bootMs: number | null = null;
  /** performance.now() at the end of the backoff, before which a restarted attempt is held out of rotation. */
  private readyNotBefore = 0;

  constructor(runtime: string, index: number, adapter: ReplicaAdapter, restart: RestartConfig, hooks: ReplicaHooks, stopGrace: number) {
    this.runtime = runtime;
    this.stopGrace = stopGrace;
    this.index = index;
    this.id = `${runtime}/${index}`;
    this.adapter = adapter;
    this.hooks = hooks;
    this.bootAhead = restart.bootAhead && restart.standby === 0;
    this.lc = new Lifecycle({
      minBackoff: restart.minBackoff,
      maxBackoff: restart.maxBackoff,
      // Ready for as long as the longest backoff without crashing: no longer a crash loop.
      stableAfter: restart.maxBackoff,
      onChange: (state, previous, reason) => this.changed(state, previous, reason),
      onRestart: (due) => {
        // On the monotonic clock from here: a wall-clock step must not stretch the hold.
        this.readyNotBefore = performance.now() + Math.max(0, due - Date.now());
        this.hooks.restart(this);
        if (!this.takeOver()) void this.launch();
      },
    });
  }

  get state(): ReplicaState { return this.lc.state; }

  /** CUDA_VISIBLE_DEVICES this replica's processes get (a spare must match to be taken over). */
  get device(): string | null { return this.adapter.device; }

  /** This replica as an endpoint while it is ready, else null. */
  endpoint(): Endpoint | null { return this.readyEndpoint; }

  start(): Promise<void> {
    this.lc.to('starting');
    return this.launch();
  }

  /** Out of rotation at once, then (once the proxy let go of it) the adapter's graceful stop. Resolves when stopped. */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.stopping = new Promise((resolve) => { this.markStopped = resolve; });
    const state = this.lc.state;
    if (state === 'stopped') this.markStopped();
    else if (state === 'backoff') this.lc.to('stopped');
    else if (state === 'ready' && this.origin !== null && this.attempt?.proc != null) {
      const { origin, attempt } = this;
      const proc = this.attempt.proc;
      this.lc.to('draining');
      // release() never rejects (the manager bounds and logs it); a broken hook must not leave
      // the replica draining forever.
      void this.hooks.release(this, origin).catch(() => undefined).then(() => {
        if (!attempt.exited) void proc.drain();
      });
    } else if (state === 'starting' || state === 'warming' || state === 'ready') {
      this.lc.to('draining');
      // No proc yet: the spawn is still under way and launch() drains it when it lands.
      void this.attempt?.proc?.drain();
    }
    // crashed: the process is being reaped; its exit ends in stopped rather than a restart.
    return this.stopping;
  }

  status(): ReplicaStatus {
    const a = this.attempt;
    return {
      replica: this.index,
      pid: a !== null && !a.exited ? a.proc?.pid ?? null : null,
      state: this.lc.state,
      restarts: this.lc.restarts,
      warmupSeconds: this.warmupSeconds,
      origin: this.origin,
      lastError: this.lc.lastError,
      device: this.adapter.device,
    };
  }

  /** One clause of a readiness reason: the state and, after a crash, why. */
  describe(): string {
    const state = this.lc.state;
    const error = this.lc.lastError;
    if (state === 'crashed') return `crashed: ${error}`;
    if (state === 'backoff') {
      const left = Math.max(0, (this.lc.restartAt ?? Date.now()) - Date.now());
      return `backoff, restart in ${formatMs(left)} (crashed: ${error})`;
    }
    if (error !== null && (state === 'starting' || state === 'warming')) {
      return `${state} (restart ${this.lc.restarts}, last crash: ${error})`;
    }
    return state;
  }

  /** Zeroes the running process's own metrics (the proxy's warmup went through it). */
  resetMetrics(): void {
    const a = this.attempt;
    if (a !== null && !a.exited) a.proc?.resetMetrics?.();
  }

  metrics(timeoutMs: number): Promise<unknown[] | null> {
    const a = this.attempt;
    if (a === null || a.exited || a.proc === null || this.lc.state === 'stopped') return Promise.resolve(null);
    return a.proc.metrics(timeoutMs);
  }

  /** Takes over a ready spare, which reports listening and ready at once; false when there is none. */
  private takeOver(): boolean {
    if (this.hooks.adopt === undefined) return false;
    const attempt: Attempt = { proc: null, exited: false, launchedAt: null };
    const events = this.eventsFor(attempt);
    // Current before the spare is asked, so the replay below is not ignored; when there is no
    // spare, launch() makes the next attempt current anyway.
    this.attempt = attempt;
    const got = this.hooks.adopt(this, events);
    if (got === null) return false;
    attempt.proc = got.proc;
    events.listening(got.origin);
    events.warming();
    events.ready(got.warmupSeconds);
    return true;
  }

  private async launch(): Promise<void> {
    const attempt: Attempt = { proc: null, exited: false, launchedAt: performance.now() };
    this.attempt = attempt;
    this.origin = null;
    let proc: Launch;
    try {
      proc = await this.adapter.launch(this.eventsFor(attempt));
    } catch (err) {
      this.exited(attempt, `could not start: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (attempt.exited) return;
    attempt.proc = proc;
    // stop() or a failure arrived while the process was being spawned.
    if (this.lc.state === 'draining') void proc.drain();
    else if (this.lc.state === 'crashed') void proc.kill();
  }

  private eventsFor(attempt: Attempt): LaunchEvents {
    const live = (): boolean => this.attempt === attempt && !attempt.exited;
    return {
      listening: (origin) => {
        if (live()) this.origin = origin;
      },
      warming: () => {
        if (live() && this.lc.state === 'starting') this.lc.to('warming');
      },
      ready: (seconds) => {
        if (!live() || (this.lc.state !== 'starting' && this.lc.state !== 'warming')) return;
        if (this.origin === null) {
          this.fail(attempt, 'reported ready before it was listening');
          return;
        }
        this.warmupSeconds = seconds;
        this.hooks.warmup(this, seconds);
        if (attempt.launchedAt !== null) this.bootMs = performance.now() - attempt.launchedAt;
        // Started ahead of its backoff's end (restart.bootAhead) and ready before it: it joins
        // the rotation when the backoff ends, as a restart that started on time would.
        // A spare taken over was never started ahead: it goes in at once.
        const early = attempt.launchedAt === null ? 0 : this.readyNotBefore - performance.now();
        if (early <= 0) {
          this.lc.to('ready');
          return;
        }
        setTimeout(() => {
          if (live() && (this.lc.state === 'starting' || this.lc.state === 'warming')) this.lc.to('ready');
        }, early).unref();
      },
      failed: (reason) => {
        if (live()) this.fail(attempt, reason);
      },
      exited: (reason) => this.exited(attempt, reason),
      explain: (detail) => {
        if (this.crashedByExit === attempt) this.lc.explain(detail);
      },
      log: (stream, line) => this.hooks.log(this, stream, line),
    };
  }

  private fail(attempt: Attempt, reason: string): void {
    const state = this.lc.state;
    if (state !== 'starting' && state !== 'warming' && state !== 'ready') return;
    this.crashedByExit = null;
    this.lc.crash(reason);
    // No proc yet: launch() kills it once the spawn lands.
    void attempt.proc?.kill();
  }

  private exited(attempt: Attempt, reason: string): void {
    if (this.attempt !== attempt || attempt.exited) return;
    attempt.exited = true;
    this.origin = null;
    const state = this.lc.state;
    if (state === 'draining') {
      this.lc.to('stopped', reason);
      return;
    }
    if (state === 'starting' || state === 'warming' || state === 'ready') {
      this.crashedByExit = attempt;
      this.lc.crash(reason);
    }
    // A 'crashed' listener may have called stop() (an old generation is not restarted).
    if (this.lc.state !== 'crashed') return;
    if (this.stopping !== null) this.lc.to('stopped');
    else this.lc.backoff(this.bootAhead && this.bootMs !== null ? this.bootMs : 0);
  }

  private changed(state: ReplicaState, previous: ReplicaState, reason: string | undefined): void {
    this.readyEndpoint = state === 'ready' && this.origin !== null
      ? Object.freeze({ id: this.id, origin: this.origin, backend: this.runtime })
      : null;
    this.hooks.state(this, state, previous, reason);
    if (state === 'stopped') this.markStopped();
  }
}
