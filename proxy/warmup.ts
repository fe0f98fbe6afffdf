// The proxy's own warmup. A runtime's replicas warm themselves (every batch size), but the
// first requests through the proxy were still slow: lazily compiled proxy code, cold undici
// pools. Before /readyz turns green, Outrider sends a few dozen requests to each runtime
// through its own data listener (marked with a per-process secret, kept out of metrics and
// logs) so the first client request takes the warm path.
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import type { Config, RuntimeConfig } from './config/types.ts';
import type { Logger } from './telemetry/log.ts';

const REQUESTS_PER_PROBE = 32;
const CONCURRENCY = 4;

export function warmToken(): string {
  return randomBytes(16).toString('hex');
}

interface Probe {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
}

/** Requests every runtime answers cheaply, whatever its model: health, and (onnx) an infer the worker refuses in validation. */
function probes(r: RuntimeConfig): Probe[] {
  if (r.kind === 'onnx') {
    return [
      { method: 'GET', path: '/v2/health/ready' },
      { method: 'POST', path: `/v2/models/${r.name}/infer`, body: '{"inputs":[]}' },
    ];
  }
  return r.health.path.includes('${') ? [] : [{ method: 'GET', path: r.health.path }];
}

export interface WarmTarget {
  /** The data listener as undici needs it: an origin, plus a socket path for unix listeners. */
  readonly origin: string;
  readonly socketPath: string | null;
  readonly tls: boolean;
}

export async function warmForwardPath(config: Config, target: WarmTarget, token: string, log: Logger): Promise<void> {
  const started = performance.now();
  const agent = new Agent({
    connections: CONCURRENCY,
    connect: { ...(target.socketPath === null ? {} : { socketPath: target.socketPath }), ...(target.tls ? { rejectUnauthorized: false } : {}) },
  });
  let sent = 0;
  try {
    for (const r of config.runtimes) {
      for (const p of probes(r)) {
        const queue = Array.from({ length: REQUESTS_PER_PROBE }, (_, i) => i);
        await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
          while (queue.pop() !== undefined) {
            const res = await request(`${target.origin}${p.path}`, {
              dispatcher: agent,
              method: p.method,
              headers: { 'x-outrider-warmup': token, 'x-outrider-warmup-backend': r.name, ...(p.body === undefined ? {} : { 'content-type': 'application/json' }) },
              body: p.body ?? null,
            });
            await res.body.dump();
            sent++;
          }
        }));
      }
    }
    log.info({ requests: sent, ms: Math.round(performance.now() - started) }, 'proxy forward path warmed');
  } catch (e) {
    // Warmup is an optimisation: a failure must not hold readiness back.
    log.warn({ err: (e as Error).message, requests: sent }, 'proxy warmup incomplete');
  } finally {
    await agent.close();
  }
}
