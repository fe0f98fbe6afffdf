// The runtimes Outrider starts, warms and supervises (SPEC §2 `runtimes:`), behind the
// RuntimeManager contract of ./types.ts. Telemetry subscribes to its events; nothing here
// touches a metrics registry.
import { EventEmitter, once } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import pino from 'pino';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { RuntimeConfig } from '../proxy/config/types.ts';
import { type AdapterFactory, RuntimeBackend } from './backend.ts';
import { toLogRecord } from './child-log.ts';
import { entryPath } from './entry-path.ts';
import { OnnxAdapter } from './onnx-adapter.ts';
import { ProcessAdapter } from './process/adapter.ts';
import { type ParentDeathGuard, parentDeathGuard } from './process/spawn.ts';
import type { ReplicaHooks } from './replica.ts';
import type { StandbyHooks } from './standby.ts';
import type { BackendSet, RuntimeManager, RuntimeStatus } from './types.ts';

export interface RuntimeLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface RuntimeManagerOptions {
  /** Node 24 binary for ONNX workers and the process keeper; default process.execPath. */
  readonly nodePath?: string;
  readonly logger?: RuntimeLogger;
  /** Entry script of the ONNX worker; default runtime/onnx/main.ts (main.js when built). */
  readonly onnxWorker?: string;
  /**
   * How `kind: process` runtimes die with Outrider when it is SIGKILLed: 'setpriv'
   * (PR_SET_PDEATHSIG via util-linux), 'keeper' (a small Node process watching its IPC
   * channel), or 'auto' (default): setpriv when it is installed, else the keeper.
   */
  readonly parentDeathGuard?: 'auto' | ParentDeathGuard['kind'];
  /**
   * Called when a ready replica leaves rotation to stop (a reload's hand-over, a removed runtime,
   * shutdown): resolve once the proxy has nothing queued or in flight to `origin`. Waited for at
   * most the replica's stopGrace, then `signal` aborts and the server is stopped anyway.
   */
  readonly release?: (origin: string, signal: AbortSignal) => Promise<void>;
}

const METRICS_TIMEOUT_MS = 1000;

type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

class Manager extends EventEmitter implements RuntimeManager {
  private backends = new Map<string, RuntimeBackend>();
  /** Runtimes removed by update() that are still draining; stop() waits for them. */
  private readonly leaving = new Set<Promise<void>>();
  private phase: 'idle' | 'running' | 'stopped' = 'idle';
  private readonly logger: RuntimeLogger;
  private readonly makeAdapter: AdapterFactory;
  private readonly hooks: ReplicaHooks;
  private readonly standbyHooks: StandbyHooks;

  constructor(runtimes: readonly RuntimeConfig[], opts: RuntimeManagerOptions) {
    super();
    this.logger = opts.logger ?? pino({ name: 'outrider-runtime' });
    const nodePath = opts.nodePath ?? process.execPath;
    const onnxWorker = opts.onnxWorker ?? entryPath('./onnx/main.ts', import.meta.url);
    const guard = opts.parentDeathGuard ?? 'auto';
    this.makeAdapter = (config, ordinal, index) => config.kind === 'onnx'
      ? new OnnxAdapter(config, ordinal, index, { nodePath, workerPath: onnxWorker })
      : new ProcessAdapter(config, ordinal, { guard: () => parentDeathGuard(guard, nodePath) });
    const release = opts.release;
    this.hooks = {
      release: async (r, origin) => {
        if (release === undefined) return;
        // The hook is told to stop when the grace is over, and not waited for past it either.
        const late = AbortSignal.timeout(r.stopGrace);
        try {
          await Promise.race([release(origin, late), once(late, 'abort')]);
          if (late.aborted) this.logger.warn({ runtime: r.runtime, replica: r.index, graceMs: r.stopGrace }, 'requests to a draining replica outlived stopGrace; stopping it anyway');
        } catch (e) {
          this.logger.warn({ runtime: r.runtime, replica: r.index, err: e instanceof Error ? e.message : String(e) }, 'releasing a draining replica failed; stopping it anyway');
        }
      },
      state: (r, state, previous, reason) => {
        const fields = { runtime: r.runtime, replica: r.index, state, previous, reason };
        if (state === 'crashed') this.logger.warn(fields, 'runtime replica crashed');
        else this.logger.info(fields, 'runtime replica state');
        this.emit('state', reason === undefined
          ? { runtime: r.runtime, replica: r.index, state, previous }
          : { runtime: r.runtime, replica: r.index, state, previous, reason });
      },
      restart: (r) => this.emit('restart', { runtime: r.runtime, replica: r.index }),
      warmup: (r, seconds) => this.emit('warmup', { runtime: r.runtime, replica: r.index, seconds }),
      log: (r, stream, line) => {
        const record = toLogRecord(line);
        this.logger[record.level]({ ...record.fields, runtime: r.runtime, replica: r.index, stream }, record.msg);
        this.emit('log', { runtime: r.runtime, replica: r.index, stream, line });
      },
    };
    this.standbyHooks = {
      state: (s, state, reason) => {
        const fields = { runtime: s.runtime, standby: s.slot, pid: s.processId, state, ...(reason === undefined ? {} : { reason }) };
        if (state === 'gone' && reason !== 'stopped') this.logger.warn(fields, 'runtime standby exited');
        else this.logger.info(fields, 'runtime standby state');
        this.emit('standby', { runtime: s.runtime, standby: s.slot, state });
      },
      log: (s, stream, line) => {
        const record = toLogRecord(line);
        this.logger[record.level]({ ...record.fields, runtime: s.runtime, replica: null, standby: s.slot, stream }, record.msg);
      },
    };
    this.backends = this.build(runtimes);
  }

  async start(): Promise<void> {
    if (this.phase !== 'idle') throw new Error(`runtime manager cannot start: it is ${this.phase}`);
    this.phase = 'running';
    await Promise.all([...this.backends.values()].map((b) => b.start()));
  }

  async update(runtimes: readonly RuntimeConfig[]): Promise<void> {
    if (this.phase === 'stopped') throw new Error('runtime manager is stopped');
    const next = new Map<string, RuntimeBackend>();
    const work: Promise<void>[] = [];
    const wanted = namesOf(runtimes);
    for (const [name, backend] of this.backends) {
      if (wanted.has(name)) continue;
      const gone = backend.stop();
      this.leaving.add(gone);
      void gone.then(() => this.leaving.delete(gone));
    }
    for (const config of runtimes) {
      const existing = this.backends.get(config.name);
      if (existing === undefined) {
        const fresh = new RuntimeBackend(config, this.makeAdapter, this.hooks, this.standbyHooks);
        next.set(config.name, fresh);
        if (this.phase === 'running') work.push(fresh.start());
      } else {
        next.set(config.name, existing);
        if (isDeepStrictEqual(existing.config, config)) continue;
        if (this.phase === 'running') work.push(existing.replace(config));
        else existing.configure(config);
      }
    }
    this.backends = next;
    await Promise.all(work);
  }

  async stop(): Promise<void> {
    this.phase = 'stopped';
    await Promise.all([...[...this.backends.values()].map((b) => b.stop()), ...this.leaving]);
  }

  backend(name: string): BackendSet | undefined {
    return this.backends.get(name);
  }

  readiness(): { readonly ready: boolean; readonly reasons: readonly string[] } {
    const reasons: string[] = [];
    for (const b of this.backends.values()) {
      const problem = b.problem();
      if (problem !== null) reasons.push(problem);
    }
    return { ready: reasons.length === 0, reasons };
  }

  status(): readonly RuntimeStatus[] {
    return [...this.backends.values()].map((b) => b.status());
  }

  resetWorkerMetrics(): void {
    for (const b of this.backends.values()) b.resetMetrics();
  }

  async workerMetrics(): Promise<WorkerMetrics[]> {
    const all = await Promise.all([...this.backends.values()].map((b) => b.metrics(METRICS_TIMEOUT_MS)));
    // The worker sends its registry's getMetricsAsJSON() over IPC; its shape is prom-client's.
    return all.flat().filter((m): m is unknown[] => m !== null) as WorkerMetrics[];
  }

  private build(runtimes: readonly RuntimeConfig[]): Map<string, RuntimeBackend> {
    namesOf(runtimes);
    return new Map(runtimes.map((c) => [c.name, new RuntimeBackend(c, this.makeAdapter, this.hooks, this.standbyHooks)]));
  }
}

/** The names, refusing duplicates: two runtimes under one name would share endpoints. */
function namesOf(runtimes: readonly RuntimeConfig[]): Set<string> {
  const names = new Set<string>();
  for (const r of runtimes) {
    if (names.has(r.name)) throw new Error(`runtime "${r.name}" is configured twice`);
    names.add(r.name);
  }
  return names;
}

export function createRuntimeManager(runtimes: readonly RuntimeConfig[], opts: RuntimeManagerOptions = {}): RuntimeManager {
  return new Manager(runtimes, opts);
}
