// Hot spares of a runtime (`restart.standby`). A spare is launched like a replica (spawned,
// listening, its model loaded and warmed) but is never an endpoint. When a replica of the
// current generation has crashed and its backoff has passed, it takes a ready spare over instead
// of launching a new process: the restart then costs the backoff alone, not a process start,
// module loading, model load and warmup (about 0.7 s for the bundled models on 2 busy cores).
// The backoff is still waited for, so a crash loop is paced as before. A new spare is started
// once the runtime's current generation is ready again.
import { DecorrelatedBackoff } from './lifecycle.ts';
import type { Launch, LaunchEvents, LogStream, ReplicaAdapter } from './replica.ts';

export type StandbyState = 'starting' | 'ready' | 'adopted' | 'gone';

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
  /** Set by stop(): a process still being spawned is drained when it lands. */
  private stopped = false;

  constructor(runtime: string, slot: number, adapter: ReplicaAdapter, hooks: StandbyHooks) {
    this.runtime = runtime;
    this.slot = slot;
    this.device = adapter.device;
    this.hooks = hooks;
    void this.launch(adapter);
  }

  get state(): StandbyState { return this.current; }
  get pid(): number | null { return this.current === 'gone' || this.current === 'adopted' ? null : this.proc?.pid ?? null; }

  status(): { slot: number; pid: number | null; state: StandbyState; origin: string | null; warmupSeconds: number | null; device: string | null } {
    return { slot: this.slot, pid: this.pid, state: this.current, origin: this.origin, warmupSeconds: this.warmupSeconds, device: this.device };
  }

  /** Hands the ready process to a replica: its future events go to `sink`. Null when not ready. */
  adopt(sink: LaunchEvents): Adopted | null {
    if (this.current !== 'ready' || this.proc === null || this.origin === null || this.warmupSeconds === null) return null;
    this.sink = sink;
    this.to('adopted', undefined);
    return { proc: this.proc, origin: this.origin, warmupSeconds: this.warmupSeconds };
  }

  /** Stops the spare (not once adopted: the process is the replica's then). Resolves when it has exited. */
  async stop(): Promise<void> {
    if (this.current === 'adopted' || this.current === 'gone') return;
    this.stopped = true;
    await this.proc?.drain();
  }

  private async launch(adapter: ReplicaAdapter): Promise<void> {
    let proc: Launch;
    try {
      proc = await adapter.launch(this.events());
    } catch (err) {
      this.gone(`could not start: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (this.current === 'gone') return;
    this.proc = proc;
    if (this.stopped) void proc.drain();
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
        if (this.current !== 'starting' || this.origin === null) return;
        this.warmupSeconds = seconds;
        this.to('ready', undefined);
      },
      failed: (reason) => {
        if (this.sink !== null) {
          this.sink.failed(reason);
          return;
        }
        void this.proc?.kill();
        this.gone(reason);
      },
      exited: (reason) => {
        if (this.sink !== null) this.sink.exited(reason);
        else this.gone(reason);
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
  private readonly make: (slot: number) => Standby;
  private closed = false;

  constructor(runtime: string, count: number, restart: { readonly minBackoff: number; readonly maxBackoff: number }, adapterFor: (slot: number) => ReplicaAdapter, hooks: StandbyHooks) {
    this.spares = Array.from({ length: count }, () => null);
    this.delays = Array.from({ length: count }, () => new DecorrelatedBackoff(restart.minBackoff, restart.maxBackoff));
    this.timers = Array.from({ length: count }, () => null);
    const own: StandbyHooks = {
      state: (spare, state, reason) => {
        if (state === 'ready') this.delays[spare.slot]!.reset();
        hooks.state(spare, state, reason);
        if (state === 'gone') this.died(spare);
      },
      log: hooks.log,
    };
    this.make = (slot) => new Standby(runtime, slot, adapterFor(slot), own);
  }

  /** Starts the spares that are missing (none while one is being waited for after a death). */
  fill(): void {
    if (this.closed) return;
    for (let slot = 0; slot < this.spares.length; slot++) {
      const s = this.spares[slot];
      if (this.timers[slot] !== null) continue;
      if (s === null || s.state === 'adopted') this.spares[slot] = this.make(slot);
    }
  }

  /** A spare died before it was adopted: start another after that slot's backoff. */
  private died(spare: Standby): void {
    const slot = spare.slot;
    if (this.closed || this.spares[slot] !== spare || this.timers[slot] !== null) return;
    const t = setTimeout(() => {
      this.timers[slot] = null;
      if (this.closed) return;
      this.spares[slot] = this.make(slot);
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

  status(): ReturnType<Standby['status']>[] {
    return this.spares.filter((s): s is Standby => s !== null && s.state !== 'adopted').map((s) => s.status());
  }

  async close(): Promise<void> {
    this.closed = true;
    for (let slot = 0; slot < this.timers.length; slot++) {
      const t = this.timers[slot];
      if (t !== null) clearTimeout(t);
      this.timers[slot] = null;
    }
    await Promise.all(this.spares.map((s) => s?.stop()));
  }
}
