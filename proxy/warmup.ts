// The proxy's own warmup. A runtime's replicas warm themselves (every batch size), but the
// first requests through the proxy were still slow: lazily compiled proxy code, cold undici
// pools, and in the worker the paths only proxied requests take (x-timeout-ms deadlines). Before
// /readyz turns green, Outrider sends a few dozen requests to each runtime through its own data
// listener (marked with a per-process secret, kept out of metrics and logs), valid inferences
// built from an ONNX model's metadata among them, so the first client request takes the warm path.
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import type { Config, RuntimeConfig } from './config/types.ts';
import type { Logger } from './telemetry/log.ts';

/** Repetitions of a cheap probe (health, a request the worker refuses in validation). */
const REQUESTS_PER_PROBE = 32;
/** Repetitions of a real inference: each one costs a model run, which may be slow. */
const REQUESTS_PER_INFERENCE = 4;
const CONCURRENCY = 4;
/** Readiness waits for this warmup: past this budget no further warmup request is started. */
const WARM_BUDGET_MS = 10_000;

export function warmToken(): string {
  return randomBytes(16).toString('hex');
}

interface Probe {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
  /** Times it is sent (default REQUESTS_PER_PROBE). */
  readonly repeat?: number;
  /** Sent once first; repeated only when that answer is 200 (a path the model may not serve). */
  readonly gated?: boolean;
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

interface IoMetadata {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

/** Most elements a synthetic warmup tensor may have (a model with huge fixed inputs is warmed by its worker alone). */
const MAX_WARM_ELEMENTS = 1 << 16;
/** Length given to dynamic dims other than the batch dim (as the worker's own warmup does). */
const WARM_DYNAMIC_DIM = 16;

/**
 * A valid batch-1 KServe v2 request built from the model's metadata (GET /v2/models/{name}), so
 * that warmup through the proxy also runs the worker's success path the way real traffic does
 * (with the proxy's x-timeout-ms: deadline timers in the batcher, a real output to encode); and
 * an OpenAI embeddings request when the model takes `input_ids`. Both are gated: whether the
 * worker serves them is its decision (runtime/onnx/signature.ts), so the first answer says
 * whether to send the rest. None when an input is of a kind not synthesised.
 */
export function warmInferences(name: string, meta: { inputs?: readonly IoMetadata[]; outputs?: readonly IoMetadata[] }): Probe[] {
  const inputs = meta.inputs ?? [];
  if (inputs.length === 0) return [];
  const tensors: unknown[] = [];
  for (const i of inputs) {
    const shape = i.shape.map((d, k) => (d >= 0 ? d : k === 0 ? 1 : WARM_DYNAMIC_DIM));
    const n = shape.reduce((a, b) => a * b, 1);
    const value = i.datatype.startsWith('FP') ? 0.5 : /^U?INT/.test(i.datatype) ? 1 : i.datatype === 'BOOL' ? true : null;
    if (value === null || n > MAX_WARM_ELEMENTS) return [];
    tensors.push({ name: i.name, shape, datatype: i.datatype, data: new Array<unknown>(n).fill(value) });
  }
  const gate = { repeat: REQUESTS_PER_INFERENCE, gated: true } as const;
  const out: Probe[] = [{ method: 'POST', path: `/v2/models/${name}/infer`, body: JSON.stringify({ inputs: tensors }), ...gate }];
  if (inputs.some((i) => i.name === 'input_ids')) {
    out.push({ method: 'POST', path: '/v1/embeddings', body: JSON.stringify({ model: name, input: 'warm up the embeddings path' }), ...gate });
  }
  return out;
}

/** The model's KServe v2 metadata through the proxy; {} when it cannot be had (then no valid infer is sent). */
async function metadata(agent: Agent, origin: string, r: RuntimeConfig, headers: Record<string, string>): Promise<Parameters<typeof warmInferences>[1]> {
  try {
    const res = await request(`${origin}/v2/models/${encodeURIComponent(r.name)}`, { dispatcher: agent, method: 'GET', headers });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return {};
    }
    const meta = await res.body.json() as { inputs?: unknown; outputs?: unknown };
    const io = (v: unknown): IoMetadata[] | undefined => (Array.isArray(v) && v.every((i) => typeof i?.name === 'string' && typeof i?.datatype === 'string'
      && Array.isArray(i?.shape) && (i.shape as unknown[]).every((d) => Number.isInteger(d))) ? v as IoMetadata[] : undefined);
    const inputs = io(meta.inputs);
    const outputs = io(meta.outputs);
    return { ...(inputs === undefined ? {} : { inputs }), ...(outputs === undefined ? {} : { outputs }) };
  } catch {
    return {};
  }
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
  const statuses: Record<number, number> = {};
  try {
    const headersFor = (r: RuntimeConfig, json: boolean) => ({ 'x-outrider-warmup': token, 'x-outrider-warmup-backend': r.name, ...(json ? { 'content-type': 'application/json' } : {}) });
    const spent = () => performance.now() - started > WARM_BUDGET_MS;
    for (const r of config.runtimes) {
      if (spent()) break;
      const all = probes(r);
      if (r.kind === 'onnx') all.push(...warmInferences(r.name, await metadata(agent, target.origin, r, headersFor(r, false))));
      for (const p of all) {
        const send = async (): Promise<number> => {
          const res = await request(`${target.origin}${p.path}`, {
            dispatcher: agent,
            method: p.method,
            headers: headersFor(r, p.body !== undefined),
            body: p.body ?? null,
          });
          await res.body.dump();
          sent++;
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          return res.statusCode;
        };
        let left = p.repeat ?? REQUESTS_PER_PROBE;
        if (spent()) break;
        if (p.gated === true) {
          left--;
          if (await send() !== 200) continue;
        }
        await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
          while (left > 0 && !spent()) {
            left--;
            await send();
          }
        }));
      }
    }
    const ms = Math.round(performance.now() - started);
    log.info({ requests: sent, statuses, ms, ...(ms > WARM_BUDGET_MS ? { budgetMs: WARM_BUDGET_MS } : {}) }, 'proxy forward path warmed');
  } catch (e) {
    // Warmup is an optimisation: a failure must not hold readiness back.
    log.warn({ err: (e as Error).message, requests: sent }, 'proxy warmup incomplete');
  } finally {
    await agent.close();
  }
}
