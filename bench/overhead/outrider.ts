// Outrider as users run it: the real CLI, a generated config with one upstream and one route,
// access log on, metrics on (always served on the admin port), tracing off.
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { INFER_PATH } from './payload.ts';
import type { Child, Processes } from './processes.ts';
import { HEAP_FLAGS } from '../../proxy/heap-flags.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(REPO_ROOT, 'proxy', 'cli.ts');

export interface OutriderInstance {
  readonly child: Child;
  readonly data: string;     // http://127.0.0.1:PORT
  readonly admin: string;
  readonly config: string;
  readonly log: string;      // its stdout: the access log
}

export function writeOutriderConfig(dir: string, upstreamOrigin: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'outrider.yaml');
  writeFileSync(file, stringify({
    version: 1,
    listen: { data: '127.0.0.1:0', admin: '127.0.0.1:0' },
    upstreams: [{ name: 'bench-upstream', endpoints: [upstreamOrigin] }],
    routes: [{ name: 'infer', match: { path: INFER_PATH, methods: ['POST'] }, backends: [{ to: 'bench-upstream' }] }],
    telemetry: { tracing: false, accessLog: true },
  }));
  return file;
}

/** `outrider validate`: throws with its messages when the config (or the CLI) does not load. */
export async function validateOutrider(processes: Processes, config: string): Promise<void> {
  await processes.run('outrider validate', process.execPath, [CLI, 'validate', '-c', config], { cpu: null, cwd: REPO_ROOT }, 60_000);
}

export interface StartOutrider {
  readonly dir: string;
  readonly upstreamOrigin: string;
  readonly cpu: number | null;
  readonly cpuProfileDir?: string;
}

export async function startOutrider(processes: Processes, o: StartOutrider): Promise<OutriderInstance> {
  const config = writeOutriderConfig(o.dir, o.upstreamOrigin);
  await validateOutrider(processes, config);
  // The access log goes to a file, as a container runtime would collect it, not through a pipe
  // the orchestrator would have to drain on the load generator's CPU.
  const log = join(o.dir, 'stdout.log');
  const fd = openSync(log, 'w');
  // Launched as `npm start` and the image launch it (proxy/heap-flags.ts).
  const nodeFlags = [...HEAP_FLAGS, ...(o.cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', o.cpuProfileDir])];
  let child: Child;
  try {
    child = processes.start('outrider', process.execPath, [...nodeFlags, CLI, 'run', '-c', config], { cpu: o.cpu, stdout: fd, cwd: REPO_ROOT });
  } finally {
    closeSync(fd);
  }
  const { data, admin } = await waitForListening(child, log, 60_000);
  return { child, data: `http://${data}`, admin: `http://${admin}`, config, log };
}

/** Reads Outrider's log file until its `listening` line names the bound addresses. */
export async function waitForListening(child: Child, log: string, timeoutMs: number): Promise<{ data: string; admin: string }> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      if (!line.includes('"listening"')) continue;
      const entry = JSON.parse(line) as { msg?: string; data?: string; admin?: string };
      if (entry.msg === 'listening' && entry.data !== undefined && entry.admin !== undefined) return { data: entry.data, admin: entry.admin };
    }
    if (!child.running) throw new Error(child.describeExit());
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`outrider logged no "listening" line within ${timeoutMs} ms (log: ${log})`);
}

/** The sum of outrider_requests_total over all labels, from the admin port's /metrics. */
export async function requestsCounted(admin: string): Promise<number> {
  const res = await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`${admin}/metrics answered ${res.status}`);
  let total = 0;
  for (const line of (await res.text()).split('\n')) {
    if (line.startsWith('outrider_requests_total{') || line.startsWith('outrider_requests_total ')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

export interface LogCounts {
  readonly accessLines: number;   // one per answered request when the access log is on
  readonly errorLines: number;    // level error or fatal: a healthy run has none
  readonly firstError: string | null;
}

/** What Outrider wrote to stdout: checks the access log really was on and nothing went wrong. */
export async function countLogLines(file: string): Promise<LogCounts> {
  let accessLines = 0;
  let errorLines = 0;
  let firstError: string | null = null;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line.includes('"msg":"request"')) accessLines++;
    // pino levels: 50 error, 60 fatal.
    if (line.startsWith('{"level":50') || line.startsWith('{"level":60')) {
      errorLines++;
      firstError ??= line.slice(0, 400);
    }
  }
  return { accessLines, errorLines, firstError };
}
