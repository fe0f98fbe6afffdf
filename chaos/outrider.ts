// Outrider as a chaos scenario runs it: the real `outrider run` process (test/helpers/outrider.ts)
// on a config written to a temp dir, stopped when the scenario ends; plus what scenarios read from
// its admin port while they run (metrics, health).
import { rm } from 'node:fs/promises';
import { request } from 'undici';
import { startOutrider, waitReady } from '../test/helpers/outrider.ts';
import type { Running } from '../test/helpers/outrider.ts';
import type { ScenarioRun } from './scenario.ts';
import { placement } from './placement.ts';

export type { Running };

/** The config's opening lines: loopback port 0 for both listeners, and optional `limits`. */
export function header(limits = '{ drainTimeout: 5s }'): string {
  return `version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
limits: ${limits}
telemetry: { tracing: false, accessLog: true }
`;
}

const live = new Set<Running>();

/** SIGTERM to every Outrider a scenario still runs (the runner calls it when it is interrupted). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((o) => o.stop('SIGTERM')));
}

/** Starts Outrider, waits for /readyz, and has the scenario stop it (SIGKILL if it is stuck) and remove its temp dir. */
export async function launch(r: ScenarioRun, yaml: string, opts: { readyTimeoutMs?: number; waitReady?: boolean } = {}): Promise<Running> {
  const cpu = placement().proxyCpu;
  const o = await startOutrider(yaml, { readyTimeoutMs: opts.readyTimeoutMs ?? 30_000, ...(cpu === null ? {} : { cpu }) });
  live.add(o);
  r.defer(async () => {
    await o.stop('SIGTERM');
    live.delete(o);
    await rm(o.dir, { recursive: true, force: true });
  });
  if (opts.waitReady !== false) await waitReady(o.admin, opts.readyTimeoutMs ?? 30_000);
  return o;
}

export async function scrape(admin: string): Promise<string> {
  const r = await request(`${admin}/metrics`);
  return await r.body.text();
}

/** Sum of the samples of `name` whose labels include `labels` (Prometheus text format). */
export function metric(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const close = rest[0] === '{' ? rest.indexOf('} ') : -1;
    const labelText = close === -1 ? '' : rest.slice(1, close);
    const value = Number(rest.slice(close === -1 ? 1 : close + 2).trim().split(' ')[0]);
    const have = new Map<string, string>();
    for (const m of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(m[1]!, m[2]!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v) && Number.isFinite(value)) sum += value;
  }
  return sum;
}

export interface Poller<T> {
  /** Probes that threw (the admin port gone, say): not samples, but counted. */
  readonly errors: number;
  stop(): Promise<T[]>;
}

/** Calls `probe` every `intervalMs` until stopped (at the latest when the scenario ends); collects what it returns. */
export function poll<T>(r: ScenarioRun, intervalMs: number, probe: () => Promise<T>): Poller<T> {
  const out: T[] = [];
  let running = true;
  const poller = { errors: 0, stop: async () => { running = false; await loop; return out; } };
  const loop = (async () => {
    while (running) {
      try {
        out.push(await probe());
      } catch {
        poller.errors++;
      }
      await new Promise((res) => setTimeout(res, intervalMs));
    }
  })();
  r.defer(() => poller.stop());
  return poller;
}

export interface HealthProbe {
  readonly at: number;
  readonly status: number;
  readonly ms: number;
}

/** GET /healthz on the admin port, timed; status 0 when it failed or took over 2 s. */
export async function healthz(admin: string): Promise<HealthProbe> {
  const at = performance.now();
  try {
    const r = await request(`${admin}/healthz`, { signal: AbortSignal.timeout(2_000) });
    await r.body.dump();
    return { at, status: r.statusCode, ms: performance.now() - at };
  } catch {
    return { at, status: 0, ms: performance.now() - at };
  }
}

/** Access-log lines (msg "request") written since index `from` of o.logs. */
export function accessLog(o: Running, from = 0): Record<string, unknown>[] {
  return o.logs.slice(from).filter((l) => l['msg'] === 'request');
}

/** Outrider's own time for each request (access log durationMs, arrival to response end), by request id. */
export function proxyTimes(o: Running): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of o.logs) if (l['msg'] === 'request' && typeof l['requestId'] === 'string') out.set(l['requestId'], Number(l['durationMs']));
  return out;
}

/**
 * For requests the client saw hang or run late: what Outrider's access log says about them
 * (its own duration and outcome), to tell a proxy that held a request from a client or machine
 * that was too busy to see the answer in time.
 */
export function proxySide(o: Running, ids: readonly string[]): string {
  if (ids.length === 0) return 'none';
  const byId = new Map<string, Record<string, unknown>>();
  for (const l of o.logs) if (l['msg'] === 'request' && typeof l['requestId'] === 'string') byId.set(l['requestId'], l);
  const parts = ids.slice(0, 5).map((id) => {
    const l = byId.get(id);
    return l === undefined ? `${id}: no access-log line` : `${id}: ${String(l['status'])} ${String(l['code'] ?? '')} in ${String(l['durationMs'])} ms`;
  });
  return `${parts.join('; ')}${ids.length > 5 ? `; … ${ids.length - 5} more` : ''}`;
}
