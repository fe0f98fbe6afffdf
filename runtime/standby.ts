// Hot spares of a runtime (`restart.standby`). A spare is launched like a replica (spawned,
// listening, its model loaded and warmed) but is never an endpoint. When a replica of the
// current generation has crashed and its backoff has passed, it takes a ready spare over instead
// of launching a new process: the restart then costs the backoff alone, not a process start,
// module loading, model load and warmup (about 0.7 s for the bundled models on 2 busy cores).
// The backoff is still waited for, so a crash loop is paced as before. A new spare is started
// once the runtime's current generation is ready again.
import { DecorrelatedBackoff } from './lifecycle.ts';
import type { Launch, LaunchEvents, LogStream, ReplicaAdapter } from './replica.ts';
import type { StandbyState, StandbyStatus } from './types.ts';

export interface StandbyHooks {
  state(spare: Standby, state: StandbyState, reason: string | undefined): void;
  log(spare: Standby, stream: LogStream, line: string): void;
}

/** What a replica takes over: the running process and what it already reported. */
export interface Adopted {
  readonly proc: Launch;
  readonly origin: string;
  readonly warmupSeconds: number;
}

export class Standby {
  readonly runtime: string;
  /** Which spare of the runtime (a label in logs and /runtimes). */
  readonly slot: number;
  /** CUDA_VISIBLE_DEVICES it was started with: only a replica pinned alike can take it over. */
  readonly device: string | null;
  private current: StandbyState = 'starting';
  private proc: Launch | null = null;
  private origin: string | null = null;
  private warmupSeconds: number | null = null;
  /** The adopter's events, once a replica took this process over. */
  private sink: LaunchEvents | null = null;
  private readonly hooks: StandbyHooks;
  private readonly adapter: ReplicaAdapter;
  /** Set by stop(): a process still being spawned is drained when it lands. */
  private stopped = false;
  /** Why it was killed before it exited (unhealthy, a failed warmup): the reason `gone` reports. */
  private failure: string | null = null;
  /** Settles once the process has exited (or could not be started). */
  private readonly ended: Promise<void>;
  private markEnded: () => void = () => {};

  constructor(runtime: string, slot: number, adapter: ReplicaAdapter, hooks: StandbyHooks) {
    this.runtime = runtime;
    this.slot = slot;
    this.device = adapter.device;
    this.adapter = adapter;
    this.hooks = hooks;
    this.ended = new Promise((resolve) => { this.markEnded = resolve; });
  }

  get state(): StandbyState { return this.current; }
  /** Its process's pid while it is a spare (null once adopted: the replica reports it then). */
  get pid(): number | null { return this.current === 'gone' || this.current === 'adopted' ? null : this.proc?.pid ?? null; }
  /** The pid it was started as, whatever its state (for logs). */
  get processId(): number | null { return this.proc?.pid ?? null; }

  status(): StandbyStatus {
    return { slot: this.slot, pid: this.pid, state: this.current, origin: this.origin, warmupSeconds: this.warmupSeconds, device: this.device };
  }

  /** Spawns the process; called once the pool holds this spare, so any event finds it there. */
  start(): void {
    void this.launch();
  }

  /** Hands the ready process to a replica: its future events go to `sink`. Null when not ready. */
  adopt(sink: LaunchEvents): Adopted | null {
    if (this.current !== 'ready' || this.failure !== null || this.proc === null || this.origin === null || this.warmupSeconds === null) return null;
    this.sink = sink;
    this.to('adopted', undefined);
    this.markEnded();
    return { proc: this.proc, origin: this.origin, warmupSeconds: this.warmupSeconds };
  }

  /** Stops the spare (not once adopted: the process is the replica's then). Resolves once it has exited. */
  async stop(): Promise<void> {
    if (this.current === 'adopted') return;
    this.stopped = true;
    if (this.current !== 'gone' && this.failure === null) void this.proc?.drain();
    await this.ended;
  }

  private async launch(): Promise<void> {
    let proc: Launch;
    try {
      proc = await this.adapter.launch(this.events());
    } catch (err) {
      this.gone(`could not start: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.proc = proc;
    if (this.current === 'gone') return;
    // Failed or stopped while it was being spawned.
    if (this.failure !== null) void proc.kill();
    else if (this.stopped) void proc.drain();
  }

  private events(): LaunchEvents {
    return {
      listening: (origin) => {
        if (this.sink !== null) this.sink.listening(origin);
        else this.origin = origin;
      },
      warming: () => this.sink?.warming(),
      ready: (seconds) => {
        if (this.sink !== null) {
          this.sink.ready(seconds);
          return;
        }
        if (this.current !== 'starting' || this.origin === null || this.failure !== null) return;
        this.warmupSeconds = seconds;
        this.to('ready', undefined);
      },
      failed: (reason) => {
        if (this.sink !== null) {
          this.sink.failed(reason);
          return;
        }
        // Out of reach at once; `gone` (and a replacement) only once it has exited.
        if (this.failure !== null || this.current === 'gone') return;
        this.failure = reason;
        void this.proc?.kill();
      },
      exited: (reason) => {
        if (this.sink !== null) this.sink.exited(reason);
        else this.gone(this.failure ?? reason);
      },
      explain: (detail) => this.sink?.explain(detail),
      log: (stream, line) => {
        if (this.sink !== null) this.sink.log(stream, line);
        else this.hooks.log(this, stream, line);
      },
    };
  }

  private gone(reason: string): void {
    if (this.current === 'gone' || this.current === 'adopted') return;
    this.to('gone', this.stopped ? 'stopped' : reason);
    this.markEnded();
  }

  private to(state: StandbyState, reason: string | undefined): void {
    this.current = state;
    this.hooks.state(this, state, reason);
  }
}

/**
 * The spares of one runtime generation: `count` of them, each restarted with its own backoff
 * when it dies while waiting (a spare that cannot start must not spin).
 */
export class StandbyPool {
  private readonly spares: (Standby | null)[];
  private readonly delays: DecorrelatedBackoff[];
  private readonly timers: (NodeJS.Timeout | null)[];
  /** Per slot: resets its backoff once its spare has stayed ready for maxBackoff (as a replica's does). */
  private readonly stable: (NodeJS.Timeout | null)[];
  private readonly make: (slot: number) => Standby;
  private closed = false;

  constructor(runtime: string, count: number, restart: { readonly minBackoff: number; readonly maxBackoff: number }, adapterFor: (slot: number) => ReplicaAdapter, hooks: StandbyHooks) {
    this.spares = Array.from({ length: count }, () => null);
    this.delays = Array.from({ length: count }, () => new DecorrelatedBackoff(restart.minBackoff, restart.maxBackoff));
    this.timers = Array.from({ length: count }, () => null);
    this.stable = Array.from({ length: count }, () => null);
    const own: StandbyHooks = {
      state: (spare, state, reason) => {
        const slot = spare.slot;
        if (state === 'ready') {
          const t = setTimeout(() => {
            this.stable[slot] = null;
            this.delays[slot]!.reset();
          }, restart.maxBackoff);
          t.unref();
          this.stable[slot] = t;
        } else {
          this.clearStable(slot);
        }
        hooks.state(spare, state, reason);
        if (state === 'gone') this.died(spare);
      },
      log: hooks.log,
    };
    this.make = (slot) => new Standby(runtime, slot, adapterFor(slot), own);
  }

  private place(slot: number): void {
    const spare = this.make(slot);
    this.spares[slot] = spare;
    spare.start();
  }

  private clearStable(slot: number): void {
    const t = this.stable[slot];
    if (t !== null && t !== undefined) clearTimeout(t);
    this.stable[slot] = null;
  }

  /** Starts the spares that are missing (none while one is being waited for after a death). */
  fill(): void {
    if (this.closed) return;
    for (let slot = 0; slot < this.spares.length; slot++) {
      const s = this.spares[slot];
      if (this.timers[slot] !== null) continue;
      if (s === null || s.state === 'adopted') this.place(slot);
    }
  }

  /** A spare died before it was adopted: start another after that slot's backoff. */
  private died(spare: Standby): void {
    const slot = spare.slot;
    if (this.closed || this.spares[slot] !== spare || this.timers[slot] !== null) return;
    const t = setTimeout(() => {
      this.timers[slot] = null;
      if (this.closed) return;
      this.place(slot);
    }, this.delays[slot]!.next());
    t.unref();
    this.timers[slot] = t;
  }

  /** A ready spare pinned to `device`, handed to `sink`; null when none is ready. */
  adopt(device: string | null, sink: LaunchEvents): Adopted | null {
    if (this.closed) return null;
    for (const s of this.spares) {
      if (s === null || s.device !== device) continue;
      const got = s.adopt(sink);
      if (got !== null) return got;
    }
    return null;
  }

  status(): StandbyStatus[] {
    return this.spares.filter((s): s is Standby => s !== null && s.state !== 'adopted').map((s) => s.status());
  }

  async close(): Promise<void> {
    this.closed = true;
    for (let slot = 0; slot < this.timers.length; slot++) {
      const t = this.timers[slot];
      if (t !== null) clearTimeout(t);
      this.timers[slot] = null;
      this.clearStable(slot);
    }
    await Promise.all(this.spares.map((s) => s?.stop()));
  }
}
