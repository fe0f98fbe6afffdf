// The admin port (SPEC §5). Never the data port: a flooded data port cannot starve it of
// connections, and data-port limits never apply here.
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RuntimeManager } from '../runtime/types.ts';
import type { ConfigError } from './config/types.ts';
import { redactConfig } from './config/redact.ts';
import type { DataPlane } from './server.ts';
import type { Balancers } from './balance.ts';

export interface AdminDeps {
  readonly plane: DataPlane;
  readonly runtimes: RuntimeManager;
  readonly balancers: Balancers;
  readonly reload: () => Promise<{ ok: true } | { ok: false; errors: readonly ConfigError[]; formatted: readonly string[] }>;
}

type AdminHandler = (deps: AdminDeps, req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

const ROUTES: Record<string, Partial<Record<string, AdminHandler>>> = {
  '/healthz': { GET: (_d, _q, res) => json(res, 200, { status: 'ok' }) },
  '/readyz': { GET: readyz },
  '/metrics': { GET: metrics },
  '/config': { GET: (d, _q, res) => json(res, 200, redactConfig(d.plane.table.config)) },
  '/config/reload': { POST: reload },
  '/runtimes': { GET: (d, _q, res) => json(res, 200, { runtimes: d.runtimes.status() }) },
  '/routes': { GET: routes },
};

export function createAdminServer(deps: AdminDeps): http.Server {
  return http.createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const byMethod = ROUTES[path];
    const handler = byMethod?.[req.method ?? 'GET'];
    if (handler === undefined) {
      if (byMethod !== undefined) {
        res.setHeader('allow', Object.keys(byMethod).join(', '));
        return json(res, 405, { error: { code: 'method_not_allowed', message: `${req.method} is not allowed on ${path}` } });
      }
      return json(res, 404, { error: { code: 'not_found', message: `no admin endpoint ${path}` } });
    }
    Promise.resolve(handler(deps, req, res)).catch((e: unknown) => {
      deps.plane.log.error({ err: e, path }, 'admin endpoint failed');
      if (!res.headersSent) json(res, 500, { error: { code: 'internal', message: 'internal error' } });
      else res.destroy();
    });
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function readyz(d: AdminDeps, _req: IncomingMessage, res: ServerResponse): void {
  if (d.plane.draining) return json(res, 503, { status: 'not ready', reasons: ['draining: shutting down'] });
  const r = d.runtimes.readiness();
  if (r.ready) return json(res, 200, { status: 'ready' });
  json(res, 503, { status: 'not ready', reasons: r.reasons });
}

async function metrics(d: AdminDeps, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const text = await d.plane.metrics.render(await d.runtimes.workerMetrics());
  res.writeHead(200, { 'content-type': d.plane.metrics.contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function reload(d: AdminDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume();
  const r = await d.reload();
  if (r.ok) return json(res, 200, { status: 'reloaded' });
  json(res, 400, {
    error: { code: 'invalid_config', message: `the config file has ${r.errors.length} error(s); the running config stays`, errors: r.errors, text: r.formatted },
  });
}

function routes(d: AdminDeps, _req: IncomingMessage, res: ServerResponse): void {
  const table = d.plane.table;
  const total = (rc: { backends: readonly { weight: number }[] }) => rc.backends.reduce((s, b) => s + b.weight, 0);
  json(res, 200, {
    routes: table.routes.map((r) => {
      const sum = total(r.config);
      return {
        name: r.name,
        match: r.config.match,
        timeoutMs: r.config.timeout,
        backends: r.config.backends.map((b) => {
          const set = table.backends.get(b.to);
          const picker = d.balancers.for(b.to);
          const ready = set?.endpoints() ?? [];
          return {
            name: b.to,
            kind: set?.kind,
            weight: b.weight,
            // What the split really does now: backends with no ready endpoint get no traffic.
            effectiveWeightPercent: effectiveShare(r.config.backends, b.to, table.backends),
            configuredWeightPercent: sum === 0 ? 0 : round2((b.weight / sum) * 100),
            endpoints: ready.map((e) => {
              const s = picker.stats.get(e.id);
              return { id: e.id, origin: e.origin, latencyEwmaMs: s === undefined ? null : round2(s.ewmaMs), inFlight: s?.inFlight ?? 0, requests: s?.requests ?? 0, failures: s?.failures ?? 0 };
            }),
          };
        }),
        ...r.status(),
      };
    }),
  });
}

function effectiveShare(backends: readonly { to: string; weight: number }[], name: string, sets: ReadonlyMap<string, { endpoints(): readonly unknown[] }>): number {
  let total = 0;
  let mine = 0;
  for (const b of backends) {
    if ((sets.get(b.to)?.endpoints().length ?? 0) === 0) continue;
    total += b.weight;
    if (b.to === name) mine += b.weight;
  }
  return total === 0 ? 0 : round2((mine / total) * 100);
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
