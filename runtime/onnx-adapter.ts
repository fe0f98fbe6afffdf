// `kind: onnx`: a built-in worker process (runtime/onnx/main.ts) per replica, forked with
// an IPC channel that speaks ./protocol.ts. The worker exits by itself when that channel
// closes, so it cannot outlive Outrider.
import { type ChildProcess, fork } from 'node:child_process';
import { accessSync, constants, lstatSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { OnnxRuntimeConfig } from '../proxy/config/types.ts';
import { describeExit, pipeOutput, type StderrTail, terminate } from './child.ts';
import { visibleDevices } from './devices.ts';
import type { ParentToWorker, WorkerInit, WorkerToParent } from './protocol.ts';
import type { Launch, LaunchEvents, ReplicaAdapter } from './replica.ts';

/** After the drain and its stopGrace, how long SIGTERM gets before SIGKILL. */
const TERM_GRACE_MS = 1000;

export interface OnnxAdapterOptions {
  readonly nodePath: string;
  readonly workerPath: string;
}

export class OnnxAdapter implements ReplicaAdapter {
  readonly device: string | null;
  private readonly init: WorkerInit;
  private readonly opts: OnnxAdapterOptions;

  constructor(runtime: OnnxRuntimeConfig, ordinal: number, index: number, opts: OnnxAdapterOptions) {
    this.device = visibleDevices(runtime, ordinal);
    // The worker maps `cuda:N` onto its position in CUDA_VISIBLE_DEVICES itself.
    this.init = { runtime, replica: index, host: '127.0.0.1' };
    this.opts = opts;
  }

  launch(events: LaunchEvents): Promise<Launch> {
    const cache = workerCacheDir();
    const env: NodeJS.ProcessEnv = {
      // Node's compile cache (V8 code cache and stripped TypeScript, keyed by content) halves the
      // worker's module loading (~240 -> ~115 ms measured), which a restart waits for; an
      // operator's own NODE_COMPILE_CACHE wins.
      ...(cache === null ? {} : { NODE_COMPILE_CACHE: cache }),
      ...process.env,
      OUTRIDER_WORKER: JSON.stringify(this.init),
    };
    if (this.device !== null) env.CUDA_VISIBLE_DEVICES = this.device;
    const child = fork(this.opts.workerPath, [], {
      execPath: this.opts.nodePath,
      // Outrider's own flags (--test, --inspect, ...) are not the worker's.
      execArgv: [],
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    return Promise.resolve(new OnnxLaunch(child, this.init.runtime.stopGrace, events));
  }
}

let cacheDir: string | null | undefined;

/** The workers' compile cache in the temp dir, looked up once per process. */
function workerCacheDir(): string | null {
  if (cacheDir === undefined) cacheDir = compileCacheDir(os.tmpdir());
  return cacheDir;
}

/**
 * A writable directory for the workers' compile cache under `base`, or null (then they start
 * without one). The temp dir is shared, so the directory is per user (mode 0700) and is used only
 * when it is a real directory (lstat: not a symlink) owned by us that nobody else can write:
 * another user who created it first, or planted a symlink there, must not feed code to our workers.
 */
export function compileCacheDir(base: string): string | null {
  const uid = process.getuid?.() ?? -1;
  const dir = path.join(base, `outrider-compile-cache-${uid}`);
  try {
    // Not `recursive`: the temp dir must exist, and Node's recursive mkdir never returns for some
    // unwritable parents (seen under /proc), as Node's own compile-cache setup does not either.
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return null;
  }
  try {
    const st = lstatSync(dir);
    if (!st.isDirectory() || (uid >= 0 && st.uid !== uid) || (st.mode & 0o022) !== 0) return null;
    accessSync(dir, constants.W_OK);
    return dir;
  } catch {
    return null;
  }
}

class OnnxLaunch implements Launch {
  private readonly child: ChildProcess;
  private readonly stopGrace: number;
  private readonly events: LaunchEvents;
  private readonly pending = new Map<number, (data: unknown[] | null) => void>();
  private nextId = 1;
  private ending: Promise<void> | null = null;
  private gone = false;
  private readonly stderrTail: StderrTail;

  constructor(child: ChildProcess, stopGrace: number, events: LaunchEvents) {
    this.child = child;
    this.stopGrace = stopGrace;
    this.events = events;
    this.stderrTail = pipeOutput(child, events.log);
    child.on('message', (m: unknown) => this.onMessage(m));
    child.once('exit', (code, signal) => this.exited(describeExit(code, signal)));
    child.on('error', (err) => {
      // Also emitted for a send() on a closed channel; only a failed spawn means no exit will come.
      if (child.pid === undefined) this.exited(`could not start: ${err.message}`);
    });
  }

  get pid(): number | null { return this.gone ? null : this.child.pid ?? null; }

  /** The worker finishes its queue and exits; past stopGrace it gets SIGTERM, then SIGKILL. */
  drain(): Promise<void> {
    this.ending ??= terminate(this.child, [
      { send: () => this.send({ type: 'drain' }), wait: this.stopGrace },
      { send: () => this.child.kill('SIGTERM'), wait: TERM_GRACE_MS },
      { send: () => this.child.kill('SIGKILL'), wait: Infinity },
    ]);
    return this.ending;
  }

  kill(): Promise<void> {
    this.ending ??= terminate(this.child, [
      { send: () => this.child.kill('SIGTERM'), wait: this.stopGrace },
      { send: () => this.child.kill('SIGKILL'), wait: Infinity },
    ]);
    return this.ending;
  }

  metrics(timeoutMs: number): Promise<unknown[] | null> {
    if (this.gone || !this.child.connected) return Promise.resolve(null);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, timeoutMs);
      this.pending.set(id, (data) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(data);
      });
      try {
        this.send({ type: 'metrics', id });
      } catch {
        this.pending.get(id)?.(null);
      }
    });
  }

  resetMetrics(): void {
    if (this.gone || !this.child.connected) return;
    try {
      this.send({ type: 'reset-metrics' });
    } catch { /* the channel closed: the worker is going anyway */ }
  }

  private send(message: ParentToWorker): void {
    if (!this.child.connected) throw new Error('the worker IPC channel is closed');
    // The callback swallows a channel that closes while the message is in flight.
    this.child.send(message, () => {});
  }

  private onMessage(raw: unknown): void {
    if (!isWorkerMessage(raw)) {
      this.events.log('stderr', `unexpected IPC message from worker: ${JSON.stringify(raw)?.slice(0, 200)}`);
      return;
    }
    switch (raw.type) {
      case 'listening':
        this.events.listening(`http://127.0.0.1:${raw.port}`);
        break;
      case 'warming':
        this.events.warming();
        break;
      case 'ready':
        this.events.ready(raw.warmupSeconds);
        break;
      case 'fatal':
        this.events.failed(raw.message);
        break;
      case 'metrics':
        this.pending.get(raw.id)?.(raw.data);
        break;
    }
  }

  private exited(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    for (const answer of [...this.pending.values()]) answer(null);
    void this.stderrTail.report(reason, this.events.exited, this.events.explain);
  }
}

function isWorkerMessage(m: unknown): m is WorkerToParent {
  if (typeof m !== 'object' || m === null) return false;
  const msg = m as Record<string, unknown>;
  switch (msg.type) {
    case 'listening': return Number.isInteger(msg.port) && (msg.port as number) > 0 && (msg.port as number) < 65536;
    case 'warming': return true;
    case 'ready': return typeof msg.warmupSeconds === 'number';
    case 'fatal': return typeof msg.message === 'string';
    case 'metrics': return typeof msg.id === 'number' && Array.isArray(msg.data);
    default: return false;
  }
}
