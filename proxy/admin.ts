// The admin port (SPEC §5). Never the data port: a flooded data port cannot starve it of
// connections, and data-port limits never apply here.
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RuntimeManager } from '../runtime/types.ts';
import type { ConfigError } from './config/types.ts';
import { redactConfig } from './config/redact.ts';
import type { DataPlane } from './server.ts';
import type { Balancers } from './balance.ts';
import { purgeCache } from './cache/purge.ts';

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
  '/cache/purge': { POST: purgeCache },
  '/canary/reset': { POST: canaryReset },
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
  if (r.ready && !d.plane.warmed) return json(res, 503, { status: 'not ready', reasons: ['warming the proxy\'s forward path to the runtimes'] });
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
  const now = performance.now();
  json(res, 200, {
    routes: table.routes.map((r) => {
      const shares = r.shares();
      const sum = shares.reduce((s, b) => s + b.configuredWeight, 0);
      return {
        name: r.name,
        match: r.config.match,
        timeoutMs: r.config.timeout,
        balance: r.config.balance,
        sticky: r.config.sticky,
        backends: shares.map((b) => {
          const set = table.backends.get(b.name);
          const picker = d.balancers.for(b.name);
          const ready = set?.endpoints() ?? [];
          return {
            name: b.name,
            kind: set?.kind,
            // The weight the split uses now: a canary's rollback or promotion changes it live.
            weight: b.weight,
            configuredWeight: b.configuredWeight,
            up: b.up,
            // What the split really does now: backends that are down (no ready endpoint, breaker open) get no traffic.
            effectiveWeightPercent: round2(b.effectivePercent),
            configuredWeightPercent: sum === 0 ? 0 : round2((b.configuredWeight / sum) * 100),
            endpoints: ready.map((e) => {
              const s = picker.stats.get(e.id);
              const measured = s !== undefined && s.observed && (s.origin === null || s.origin === e.origin);
              return {
                id: e.id,
                origin: e.origin,
                // The peak-EWMA latency estimate now (decayed since the last answer); null until one.
                latencyEwmaMs: measured ? round2(s.estimate(now)) : null,
                inFlight: s?.inFlight ?? 0,
                requests: s?.requests ?? 0,
                failures: s?.failures ?? 0,
                ejected: picker.ejected.has(e.id),
              };
            }),
          };
        }),
        ...r.status(),
      };
    }),
  });
}

/** POST /canary/reset?route=NAME: back to the configured weights and a fresh analysis (after a rollback). */
function canaryReset(d: AdminDeps, req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  const name = new URL(req.url ?? '/', 'http://admin.invalid').searchParams.get('route');
  if (name === null || name === '') return json(res, 400, { error: { code: 'invalid_request', message: 'name the route: POST /canary/reset?route=NAME' } });
  const route = d.plane.table.routes.find((r) => r.name === name);
  if (route === undefined) return json(res, 404, { error: { code: 'not_found', message: `no route is named "${name}"` } });
  const reset = route.action('canary/reset');
  if (reset === undefined) return json(res, 409, { error: { code: 'no_canary', message: `route "${name}" has no canary` } });
  json(res, 200, { route: name, canary: reset() });
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
