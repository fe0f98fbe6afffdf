// Outrider as users run it: the real CLI on a generated config (ports 0, onnx runtimes, one
// route per runtime), pinned to the proxy CPU with its worker processes (children inherit the
// affinity), its log written to a file. Plus what the scenarios read from its admin port.
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Child, Processes } from '../overhead/processes.ts';
import { REPO_ROOT, waitForListening } from '../overhead/outrider.ts';
import { HEAP_FLAGS } from '../../proxy/heap-flags.ts';

export { REPO_ROOT };
const CLI = join(REPO_ROOT, 'proxy', 'cli.ts');
const ADMIN_TIMEOUT_MS = 5_000;

export interface OnnxRuntime {
  readonly name: string;
  readonly model: string;
  readonly replicas: number;
  readonly maxBatchSize: number;
  readonly maxQueueDelay: string;
  readonly maxQueue?: number;
  readonly warmupIterations: number;
  readonly minBackoff?: string;
  /** restart.standby: warm spare processes a crashed replica takes over. */
  readonly standby?: number;
}

export interface OutriderSetup {
  readonly label: string;
  readonly dir: string;
  readonly runtimes: readonly OnnxRuntime[];
  /** Route timeout: long enough that queueing under the batching load is measured, not cut. */
  readonly timeout: string;
  /** `retry` of every route, or none. */
  readonly retry?: { readonly attempts: number; readonly on: readonly (string | number)[] };
}

export interface OutriderInstance {
  readonly child: Child;
  readonly data: string;     // http://127.0.0.1:PORT
  readonly admin: string;
  readonly config: string;
  readonly log: string;
}

/** The v2 infer path of a runtime, on the data port and on the worker alike (SPEC §4). */
export function inferPath(runtime: string): string {
  return `/v2/models/${encodeURIComponent(runtime)}/infer`;
}

export function writeConfig(s: OutriderSetup): string {
  const file = join(s.dir, `${s.label}.yaml`);
  writeFileSync(file, stringify({
    version: 1,
    listen: { data: '127.0.0.1:0', admin: '127.0.0.1:0' },
    // The bench drives up to 64 requests in flight into one queue: far below both limits.
    limits: { maxInFlight: 1024 },
    runtimes: s.runtimes.map((r) => ({
      name: r.name,
      kind: 'onnx',
      model: r.model,
      replicas: r.replicas,
      threads: 1,
      batching: { maxBatchSize: r.maxBatchSize, maxQueueDelay: r.maxQueueDelay, maxQueue: r.maxQueue ?? 512 },
      warmup: { iterations: r.warmupIterations },
      ...(r.minBackoff === undefined ? {} : { restart: { minBackoff: r.minBackoff, maxBackoff: '30s', ...(r.standby === undefined ? {} : { standby: r.standby }) } }),
    })),
    routes: s.runtimes.map((r) => ({
      name: r.name,
      match: { path: `/v2/models/${r.name}/`, prefix: true, methods: ['POST'] },
      timeout: s.timeout,
      ...(s.retry === undefined ? {} : { retry: { attempts: s.retry.attempts, on: [...s.retry.on] } }),
      backends: [{ to: r.name }],
    })),
    // The default config's telemetry (examples/outrider.yaml): access log on, tracing off.
    telemetry: { tracing: false, accessLog: true },
  }));
  return file;
}

/** Starts `outrider run` and resolves once it listens (its runtimes may still be warming). */
export async function startOutrider(processes: Processes, s: OutriderSetup, cpu: number | null): Promise<OutriderInstance> {
  return runOutrider(processes, s.label, writeConfig(s), join(s.dir, `${s.label}.log`), cpu);
}

/** `outrider run -c config`, its log written to `log`; resolves once it listens. */
export async function runOutrider(processes: Processes, label: string, config: string, log: string, cpu: number | null): Promise<OutriderInstance> {
  const fd = openSync(log, 'w');
  let child: Child;
  try {
    child = processes.start(`outrider (${label})`, process.execPath, [...HEAP_FLAGS, CLI, 'run', '-c', config], { cpu, stdout: fd, cwd: REPO_ROOT });
  } finally {
    closeSync(fd);
  }
  try {
    const { data, admin } = await waitForListening(child, log, 60_000);
    return { child, data: `http://${data}`, admin: `http://${admin}`, config, log };
  } catch (e) {
    await processes.stop(child, 1_000);
    throw e;
  }
}

/**
 * Polls /readyz every `pollMs` until it answers 200; resolves with performance.now() of the
 * first green answer. Fails fast when Outrider exits.
 */
export async function waitReady(o: OutriderInstance, timeoutMs: number, pollMs = 5): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    if (!o.child.running) throw new Error(o.child.describeExit());
    try {
      const res = await fetch(`${o.admin}/readyz`, { signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS) });
      last = await res.text();
      if (res.status === 200) return performance.now();
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`outrider was not ready within ${timeoutMs} ms: ${last.replace(/\s+/g, ' ')}`);
}

export interface ReplicaView {
  readonly replica: number;
  readonly pid: number | null;
  readonly state: string;
  readonly restarts: number;
  readonly warmupSeconds: number | null;
  readonly origin: string | null;
  readonly device: string | null;   // CUDA_VISIBLE_DEVICES given, if any
  readonly lastError: string | null;
}

/** The replicas of one runtime, from GET /runtimes (SPEC §5). */
export async function replicas(o: OutriderInstance, runtime: string): Promise<ReplicaView[]> {
  const res = await fetch(`${o.admin}/runtimes`, { signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS) });
  if (res.status !== 200) throw new Error(`${o.admin}/runtimes answered ${res.status}`);
  const body = await res.json() as { runtimes: { name: string; replicas: ReplicaView[] }[] };
  const rt = body.runtimes.find((r) => r.name === runtime);
  if (rt === undefined) throw new Error(`/runtimes lists no runtime "${runtime}"`);
  return rt.replicas;
}

/** The runtime's spare processes (restart.standby) from /runtimes. */
export async function standbys(o: OutriderInstance, runtime: string): Promise<{ state: string; pid: number | null }[]> {
  const res = await fetch(`${o.admin}/runtimes`, { signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS) });
  const body = await res.json() as { runtimes: { name: string; standby?: { state: string; pid: number | null }[] }[] };
  return body.runtimes.find((r) => r.name === runtime)?.standby ?? [];
}

export interface HistogramTotals {
  readonly sum: number;
  readonly count: number;
}

/** `name`_sum and `name`_count of a histogram for `runtime`, from GET /metrics (Prometheus text). */
export async function histogramTotals(o: OutriderInstance, name: string, runtime: string): Promise<HistogramTotals> {
  const res = await fetch(`${o.admin}/metrics`, { signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS) });
  if (res.status !== 200) throw new Error(`${o.admin}/metrics answered ${res.status}`);
  const label = `runtime="${runtime}"`;
  let sum = 0;
  let count = 0;
  for (const line of (await res.text()).split('\n')) {
    if (!line.includes(label)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${name}_sum{`)) sum += value;
    else if (line.startsWith(`${name}_count{`)) count += value;
  }
  return { sum, count };
}

/** Lines of level error or fatal in Outrider's log (pino levels 50, 60): a healthy run has none. */
/** Outrider's JSON log lines that contain `marker` (a cheap test before parsing), parsed. */
export function logRecords(o: OutriderInstance, marker: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(o.log, 'utf8').split('\n')) {
    if (!line.includes(marker)) continue;
    try { out.push(JSON.parse(line) as Record<string, unknown>); } catch { /* a partial last line */ }
  }
  return out;
}

export function errorLines(o: OutriderInstance): string[] {
  return readFileSync(o.log, 'utf8').split('\n').filter((l) => l.startsWith('{"level":50') || l.startsWith('{"level":60'));
}
