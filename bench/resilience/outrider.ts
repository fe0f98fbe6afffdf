// The real `outrider run` process for the resilience bench: a generated config, its access log
// (one JSON line per request, with the proxy's own durationMs) collected from stdout, and its
// metrics read from the admin port.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PROXY_CPU, pinned } from './cpus.ts';
import { HEAP_FLAGS } from '../../proxy/heap-flags.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(REPO_ROOT, 'proxy', 'cli.ts');

export interface AccessLine {
  readonly requestId: string;
  readonly route: string;
  readonly status: number;
  readonly code?: string;
  readonly detail?: string;
  readonly degraded?: string;
  readonly durationMs: number;
  /** Arrival to the response head written. */
  readonly headMs?: number;
}

export interface Proxy {
  readonly data: string;
  readonly admin: string;
  readonly access: AccessLine[];
  metric(name: string, labels: Record<string, string>): Promise<number>;
  /** CPU time (user + system, ms) the proxy process has used so far, from /proc; null where there is none. */
  cpuMs(): number | null;
  stop(): Promise<void>;
}

const TICKS_PER_SECOND = 100;   // USER_HZ on Linux

function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

export async function startProxy(yaml: string): Promise<Proxy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'outrider-bench-'));
  const file = path.join(dir, 'outrider.yaml');
  await writeFile(file, yaml);
  const { command, args } = pinned(PROXY_CPU, process.execPath, [...HEAP_FLAGS, CLI, 'run', '-c', file]);
  const child: ChildProcess = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const access: AccessLine[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const listening = new Promise<{ data: string; admin: string }>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      let l: Record<string, unknown>;
      try { l = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      if (l['msg'] === 'request') access.push(l as unknown as AccessLine);
      else if (l['msg'] === 'listening') resolve({ data: `http://${l['data'] as string}`, admin: `http://${l['admin'] as string}` });
    });
    child.once('exit', (code) => reject(new Error(`outrider exited with ${code}: ${stderr}`)));
  });
  const { data, admin } = await listening;
  return {
    data,
    admin,
    access,
    async metric(name, labels) {
      const text = await (await fetch(`${admin}/metrics`)).text();
      const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`)) continue;
        const set = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}')).split(',');
        if (wanted.every((w) => set.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return 0;
    },
    // Under taskset the pid is taskset's, which execs node in place: the same process.
    cpuMs: () => processCpuMs(child.pid),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Lets the access log lines of the last requests arrive (the logger flushes every 200 ms). */
export function settleLogs(): Promise<void> {
  return new Promise((r) => setTimeout(r, 400));
}
