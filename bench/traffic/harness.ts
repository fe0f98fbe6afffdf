// What every traffic scenario needs: the real `outrider run` process on a generated config,
// loopback upstreams whose behaviour the scenario changes while they run, and a closed-loop
// load generator recording each request's latency and answering backend.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import type { HostCommand, HostReply } from './upstream-host.ts';
import { LOAD_CPU, PROXY_CPU, forkPinned, pinned } from '../resilience/cpus.ts';
import { HEAP_FLAGS } from '../../proxy/heap-flags.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(REPO_ROOT, 'proxy', 'cli.ts');

export interface Outrider {
  readonly data: string;
  readonly admin: string;
  readonly configFile: string;
  /** Lines of its log with this `msg`, parsed. */
  logs(msg: string): Record<string, unknown>[];
  reload(yaml: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startOutrider(yaml: string): Promise<Outrider> {
  const dir = await mkdtemp(path.join(tmpdir(), 'outrider-bench-traffic-'));
  const configFile = path.join(dir, 'outrider.yaml');
  await writeFile(configFile, yaml);
  const { command, args } = pinned(PROXY_CPU, process.execPath, [...HEAP_FLAGS, CLI, 'run', '-c', configFile]);
  const child: ChildProcess = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const listening = new Promise<Record<string, unknown>>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`outrider did not start: ${stderr.join('\n')}`)), 60_000);
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`outrider exited with ${code}: ${stderr.join('\n')}`)); });
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      let o: Record<string, unknown>;
      try { o = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      // Access-log lines are many and unused here.
      if (o['msg'] === 'request') return;
      lines.push(o);
      if (o['msg'] === 'listening') { clearTimeout(t); resolve(o); }
    });
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const l = await listening.catch(async (e: unknown) => { child.kill('SIGKILL'); await rm(dir, { recursive: true, force: true }); throw e; });
  const admin = `http://${l['admin'] as string}`;
  return {
    data: `http://${l['data'] as string}`,
    admin,
    configFile,
    logs: (msg) => lines.filter((x) => x['msg'] === msg),
    async reload(next) {
      await writeFile(configFile, next);
      const r = await request(`${admin}/config/reload`, { method: 'POST' });
      const body = await r.body.text();
      if (r.statusCode !== 200) throw new Error(`reload refused: ${body}`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Upstream {
  readonly origin: string;
  /** Milliseconds each answer waits (a slowed endpoint); -1 never answers; 0 at once. */
  set(b: { delayMs?: number; status?: number; failEvery?: number }): Promise<void>;
  /** Requests it has received. */
  requests(): Promise<number>;
}

/** The upstreams' processes (upstream-host.ts) by host name, started on first use and stopped by closeHarness(). */
interface Host { child: ChildProcess; next: number; waiting: Map<number, (r: HostReply) => void> }
const hosts = new Map<string, Host>();

function ask(hostName: string, cmd: DistributiveOmit<HostCommand, 'id'>, cpu = LOAD_CPU): Promise<HostReply> {
  let h = hosts.get(hostName);
  if (h === undefined) {
    const child = forkPinned(cpu, path.join(REPO_ROOT, 'bench', 'traffic', 'upstream-host.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const created: Host = { child, next: 1, waiting: new Map<number, (r: HostReply) => void>() };
    child.on('message', (r: HostReply) => { created.waiting.get(r.id)?.(r); created.waiting.delete(r.id); });
    hosts.set(hostName, created);
    h = created;
  }
  const host = h;
  const id = host.next++;
  return new Promise((resolve, reject) => {
    host.waiting.set(id, (r) => (r.error !== undefined ? reject(new Error(r.error)) : resolve(r)));
    host.child.send({ ...cmd, id } as HostCommand);
  });
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * A keep-alive loopback server answering a small JSON naming it, after `delayMs` (-1: never).
 * Upstreams with the same `hostName` share one process (one event loop); give a backend whose
 * load must not reach another's (a shadow's, next to its primary) a host of its own. A host is
 * pinned to `cpu` when it is first started (the load generator's CPU unless said otherwise).
 */
export async function startUpstream(name: string, delayMs = 0, hostName = 'upstreams', cpu = LOAD_CPU): Promise<Upstream> {
  const { origin } = await ask(hostName, { op: 'add', name, delayMs }, cpu);
  return {
    origin: origin!,
    set: async (b) => { await ask(hostName, { op: 'set', origin: origin!, ...b }); },
    requests: async () => (await ask(hostName, { op: 'count', origin: origin! })).requests!,
  };
}

export interface Sample {
  readonly ms: number;
  readonly status: number;
  readonly backend: string;
  /** Date.now() when the answer was read. */
  readonly at: number;
}

const agent = new Agent({ connections: 128, keepAliveTimeout: 60_000, pipelining: 1 });

/** Closes the load generator's pool and stops the upstreams' process. */
export async function closeHarness(): Promise<void> {
  await agent.close();
  await Promise.all([...hosts.values()].map(async (h) => {
    const exited = new Promise<void>((r) => h.child.once('exit', () => r()));
    h.child.disconnect();
    await exited;
  }));
  hosts.clear();
}

/**
 * `count` requests with `concurrency` in flight, each with headers from `headers(i)`. The body
 * (when given) is POSTed. Latency is from sending to the end of the response body.
 */
export async function load(url: string, count: number, concurrency: number, headers: (i: number) => Record<string, string> = () => ({}), body?: string): Promise<Sample[]> {
  const out: Sample[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      const res = await request(url, { method: body === undefined ? 'GET' : 'POST', body, headers: { 'content-type': 'application/json', ...headers(i) }, dispatcher: agent });
      await res.body.dump();
      out[i] = { ms: performance.now() - t0, status: res.statusCode, backend: String(res.headers['x-outrider-backend'] ?? 'none'), at: Date.now() };
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/**
 * Open loop: `rate` requests per second for `durationMs`, each sent on schedule whether or not
 * earlier ones have answered, so a slow target shows up as latency rather than as a lower rate.
 * Latency is from the actual send to the end of the body; `lagMs` says how late the generator
 * itself sent (a busy machine), so it can be told apart.
 */
export async function paced(url: string, rate: number, durationMs: number, body?: string): Promise<{ samples: Sample[]; lagMs: number[] }> {
  const samples: Sample[] = [];
  const lagMs: number[] = [];
  const pending: Promise<void>[] = [];
  const interval = 1000 / rate;
  const start = performance.now();
  let sent = 0;
  const one = async (due: number): Promise<void> => {
    const t0 = performance.now();
    lagMs.push(t0 - due);
    const res = await request(url, { method: body === undefined ? 'GET' : 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
    await res.body.dump();
    samples.push({ ms: performance.now() - t0, status: res.statusCode, backend: String(res.headers['x-outrider-backend'] ?? 'none'), at: Date.now() });
  };
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= durationMs) break;
    const due = Math.min(Math.floor(elapsed / interval) + 1, Math.floor(durationMs / interval));
    while (sent < due) pending.push(one(start + sent++ * interval));
    await new Promise((r) => setTimeout(r, Math.max(1, interval / 2)));
  }
  await Promise.all(pending);
  return { samples, lagMs };
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export function share(samples: readonly Sample[], backend: string): number {
  return (samples.filter((s) => s.backend === backend).length / samples.length) * 100;
}

export async function routesStatus(o: Outrider): Promise<Record<string, Record<string, unknown>>> {
  const r = await request(`${o.admin}/routes`);
  const body = await r.body.json() as { routes: Record<string, unknown>[] };
  return Object.fromEntries(body.routes.map((x) => [x['name'] as string, x]));
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
