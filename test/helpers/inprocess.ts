// Outrider in the test's own process: the real app (listeners, route table, policies,
// telemetry) on a config written to a temp dir, with ports 0. Tests reach its event bus
// directly and read its metrics and /routes from the real admin port.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { Outrider } from '../../proxy/app.ts';

export interface Proxy {
  readonly app: Outrider;
  readonly data: string;       // http://127.0.0.1:PORT
  readonly admin: string;
  readonly file: string;
  /** A counter or gauge's value for the label set (0 when the series does not exist). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** The /routes entry of a route. */
  route(name: string): Promise<Record<string, unknown>>;
  /** Writes a new config and reloads it. */
  reload(yaml: string): Promise<void>;
  /** Events of `name` emitted from now on. */
  capture<T>(name: string): T[];
}

/**
 * How late a timer may fire in these tests: they run two files at a time on small CI machines,
 * where the event loop is sometimes descheduled for tens of ms. Timing bars themselves (deadline
 * + 50 ms, sub-millisecond shedding) are measured by `npm run bench:resilience`.
 */
export const LATE_MS = 150;

/** A quiet config head: ports 0, no access log, a short drain so stopping never waits on a stalled upstream. */
export const HEAD = `version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
limits: { drainTimeout: 200ms }
telemetry: { accessLog: false, tracing: false, logLevel: error }
`;

export async function startProxy(t: TestContext, yaml: string): Promise<Proxy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'outrider-policy-'));
  const file = path.join(dir, 'outrider.yaml');
  await writeFile(file, yaml);
  const app = await Outrider.start(file);
  t.after(async () => {
    await app.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const { data, admin } = app.addresses();
  return {
    app,
    data: `http://${data}`,
    admin: `http://${admin}`,
    file,
    async metric(name, labels = {}) {
      const text = await (await fetch(`http://${admin}/metrics`)).text();
      return metricValue(text, name, labels);
    },
    async route(name) {
      const body = await (await fetch(`http://${admin}/routes`)).json() as { routes: Record<string, unknown>[] };
      const r = body.routes.find((x) => x['name'] === name);
      if (r === undefined) throw new Error(`no route ${name} in /routes`);
      return r;
    },
    async reload(next) {
      await writeFile(file, next);
      const r = await app.reload();
      if (!r.ok) throw new Error(`reload refused: ${r.formatted.join('\n')}`);
    },
    capture<T>(name: string): T[] {
      const seen: T[] = [];
      app.events.on(name, (e: T) => seen.push(e));
      return seen;
    },
  };
}

export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const set = open === -1 ? [] : line.slice(open + 1, close).split(',');
    if (wanted.every((w) => set.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

/** Sends one request and returns its status, headers, body and wall time. */
export async function call(url: string, init: { method?: string; body?: string; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<{ status: number; headers: Headers; text: string; ms: number }> {
  const start = performance.now();
  const res = await fetch(url, { method: init.method ?? 'GET', body: init.body, headers: init.headers, signal: init.signal });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, ms: performance.now() - start };
}
