// Starts the real ONNX worker the way the supervisor does (child_process.fork with IPC and
// OUTRIDER_WORKER) and talks to it over real IPC and real HTTP on loopback.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { OnnxRuntimeConfig } from '../../../proxy/config/types.ts';
import type { ParentToWorker, WorkerInit, WorkerToParent } from '../../../runtime/protocol.ts';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const MODELS = `${ROOT}examples/models/`;
const ENTRY = `${ROOT}runtime/onnx/main.ts`;

type Overrides = Partial<Omit<OnnxRuntimeConfig, 'batching' | 'warmup'>> & {
  batching?: Partial<OnnxRuntimeConfig['batching']>;
  warmup?: Partial<OnnxRuntimeConfig['warmup']>;
};

export function onnxConfig(name: string, model: string, o: Overrides = {}): OnnxRuntimeConfig {
  return {
    kind: 'onnx',
    name,
    model: model.startsWith('/') ? model : `${MODELS}${model}`,
    version: '1',
    replicas: 1,
    device: 'cpu',
    cudaDevice: null,
    devices: [],
    cpuFallback: false,
    threads: 1,
    inference: 'auto',
    restart: { minBackoff: 500, maxBackoff: 30_000, standby: 0, bootAhead: true },
    stopGrace: 5_000,
    tokenizer: 'builtin',
    ...o,
    batching: { maxBatchSize: 1, maxQueueDelay: 0, maxQueue: 512, ...o.batching },
    warmup: { iterations: 2, sample: null, ...o.warmup },
  };
}

export interface WorkerHandle {
  readonly child: ChildProcess;
  readonly messages: WorkerToParent[];
  readonly stderr: () => string;
  readonly stdout: () => string;
  origin: string;
  /** Resolves with the first message of `type` (already received or upcoming); rejects if the worker exits first. */
  next<T extends WorkerToParent['type']>(type: T, timeoutMs?: number): Promise<Extract<WorkerToParent, { type: T }>>;
  metrics(): Promise<MetricJson[]>;
  send(msg: ParentToWorker): void;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): Promise<void>;
}

export interface MetricJson {
  name: string;
  type: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

let metricsId = 0;

export function spawnWorker(runtime: OnnxRuntimeConfig, extraEnv: Record<string, string> = {}): WorkerHandle {
  const init: WorkerInit = { runtime, replica: 0, host: '127.0.0.1' };
  const child = fork(ENTRY, [], {
    env: { ...process.env, OUTRIDER_WORKER: JSON.stringify(init), ...extraEnv },
    execPath: process.execPath,
    execArgv: [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let err = '';
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const messages: WorkerToParent[] = [];
  const waiters = new Set<() => void>();
  child.on('message', (m: WorkerToParent) => {
    messages.push(m);
    for (const w of [...waiters]) w();
  });
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  void exit.then(() => { for (const w of [...waiters]) w(); });
  let exitedInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  void exit.then((e) => { exitedInfo = e; });

  const handle: WorkerHandle = {
    child,
    messages,
    stderr: () => err,
    stdout: () => out,
    origin: '',
    next(type, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`no ${type} message within ${timeoutMs} ms; got ${JSON.stringify(messages)}; stderr: ${err}`)); }, timeoutMs);
        const check = () => {
          const m = messages.find((x) => x.type === type);
          if (m !== undefined) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(m as never);
          } else if (exitedInfo !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`worker exited (${JSON.stringify(exitedInfo)}) before ${type}; messages ${JSON.stringify(messages)}; stderr: ${err}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    async metrics() {
      const id = ++metricsId;
      const reply = new Promise<MetricJson[]>((resolve) => {
        const on = (m: WorkerToParent) => {
          if (m.type === 'metrics' && m.id === id) {
            child.off('message', on);
            resolve(m.data as MetricJson[]);
          }
        };
        child.on('message', on);
      });
      child.send({ type: 'metrics', id } satisfies ParentToWorker);
      return reply;
    },
    send(msg) {
      child.send(msg);
    },
    exited: () => exit,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exit;
      }
    },
  };
  return handle;
}

/** Spawns a worker and waits for `ready`; the caller must kill() it (t.after). */
export async function startWorker(runtime: OnnxRuntimeConfig, extraEnv: Record<string, string> = {}): Promise<WorkerHandle> {
  const w = spawnWorker(runtime, extraEnv);
  try {
    const { port } = await w.next('listening');
    w.origin = `http://127.0.0.1:${port}`;
    await w.next('ready');
  } catch (e) {
    await w.kill();
    throw e;
  }
  return w;
}

/** One value of a metric from the worker's JSON registry dump (a histogram's `_count` / `_sum`, a gauge, a counter). */
export function metricValue(metrics: MetricJson[], name: string, suffix = '', labels: Record<string, string> = {}): number {
  const m = metrics.find((x) => x.name === name);
  if (m === undefined) throw new Error(`metric ${name} not found`);
  const want = `${name}${suffix}`;
  const v = m.values.find((x) => (x.metricName ?? name) === want && Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, headers: res.headers, json };
}
