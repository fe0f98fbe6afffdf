// Shared by the runtime tests: configs around the fixture processes, waiting on states,
// checking that processes are really gone.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { OnnxRuntimeConfig, ProcessRuntimeConfig } from '../../proxy/config/types.ts';
import type { RuntimeLogger } from '../../runtime/manager.ts';
import type { ReplicaState, RuntimeManager } from '../../runtime/types.ts';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const HTTP_FIXTURE = `${FIXTURES}http-server.ts`;
export const FAKE_WORKER = `${FIXTURES}fake-onnx-worker.ts`;

type ProcessOverrides = Partial<Omit<ProcessRuntimeConfig, 'health'>> & { health?: Partial<ProcessRuntimeConfig['health']> };

/** A `kind: process` runtime running the HTTP fixture with test-sized timings. */
export function processRuntime(name: string, over: ProcessOverrides = {}): ProcessRuntimeConfig {
  const { health, ...rest } = over;
  return {
    kind: 'process',
    name,
    command: [process.execPath, HTTP_FIXTURE, '--port', '${PORT}'],
    cwd: FIXTURES,
    env: {},
    version: '1',
    replicas: 1,
    devices: [],
    health: { path: '/health', interval: 50, timeout: 500, startupTimeout: 5000, failureThreshold: 2, ...health },
    warmup: { iterations: 0, requests: [] },
    restart: { minBackoff: 50, maxBackoff: 200, standby: 0, bootAhead: true },
    stopGrace: 2000,
    ...rest,
  };
}

/** A `kind: onnx` runtime for the fake worker; `mode` becomes the model's basename. */
export function onnxRuntime(name: string, mode: 'ok' | 'fatal' | 'stubborn', over: Partial<OnnxRuntimeConfig> = {}): OnnxRuntimeConfig {
  return {
    kind: 'onnx',
    name,
    model: `/fixtures/${mode}`,
    version: '1',
    replicas: 1,
    device: 'cpu',
    cudaDevice: null,
    devices: [],
    cpuFallback: false,
    threads: 1,
    inference: 'auto',
    batching: { maxBatchSize: 1, maxQueueDelay: 0, maxQueue: 512 },
    warmup: { iterations: 0, sample: null },
    restart: { minBackoff: 50, maxBackoff: 200, standby: 0, bootAhead: true },
    stopGrace: 1000,
    tokenizer: 'builtin',
    ...over,
  };
}

export interface LogRecord {
  readonly level: string;
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

export function captureLogger(): RuntimeLogger & { readonly records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at = (level: string) => (obj: object, msg: string): void => {
    records.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return { records, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

export async function waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface StateEvent {
  readonly runtime: string;
  readonly replica: number;
  readonly state: ReplicaState;
  readonly previous: ReplicaState;
  readonly reason?: string;
}

/** Every 'state' event the manager emits, in order. */
export function recordStates(manager: RuntimeManager): StateEvent[] {
  const events: StateEvent[] = [];
  manager.on('state', (e: StateEvent) => events.push(e));
  return events;
}

export function replicaStatus(manager: RuntimeManager, runtime: string, replica: number) {
  return manager.status().find((r) => r.name === runtime)?.replicas.find((r) => r.replica === replica);
}

export function waitReady(manager: RuntimeManager, runtime: string, replica: number, timeoutMs = 5000) {
  return waitFor(`${runtime}/${replica} ready`, () => {
    const s = replicaStatus(manager, runtime, replica);
    return s?.state === 'ready' ? s : undefined;
  }, timeoutMs);
}

/** Waits until the replica is ready again in a process other than `oldPid` (a restart or a spare taken over). */
export function waitReadyAgain(manager: RuntimeManager, runtime: string, replica: number, oldPid: number | null, timeoutMs = 5000) {
  return waitFor(`${runtime}/${replica} ready again with a new pid`, () => {
    const s = replicaStatus(manager, runtime, replica);
    return s?.state === 'ready' && s.pid !== oldPid ? s : undefined;
  }, timeoutMs);
}

/** Alive and not a zombie: a killed orphan may linger as a zombie until init reaps it. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function killQuietly(pid: number | null | undefined): void {
  if (pid === null || pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export async function getJson(origin: string, path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(`${origin}${path}`, init);
  return { status: res.status, body: await res.json() };
}

/** One inference on the bundled MLP (examples/models/mlp.onnx: input [1,64] -> logits [1,10]) served at `origin`. */
export function inferMlp(origin: string): Promise<{ status: number; body: any }> {
  return getJson(origin, '/v2/models/mlp/infer', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: new Array(64).fill(0.5) }] }),
  });
}
