// The proxy's own warmup. A runtime's replicas warm themselves (every batch size), but the
// first requests through the proxy were still slow: lazily compiled proxy code, cold undici
// pools, and in the worker the paths only proxied requests take (x-timeout-ms deadlines). Before
// /readyz turns green, Outrider sends requests to each runtime through its own data listener
// (marked with a per-process secret: their metrics go to a twin never scraped, their access
// lines are formatted and dropped), valid inferences built from an ONNX model's metadata among
// them, so the first client request takes the warm path.
//
// How much, and from where (measured 2026-12-08, mlp, the bench's placement):
// - V8 optimises a function after some hundreds of calls. With 4 valid inferences the first
//   client requests took 2-3x the warm p50 until the ~500th; with 512 they start near it.
// - The requests come from a child process (proxy/warm-client.ts), as a client's do. Sent from
//   inside the proxy, the warmup's client sockets and bodies went through the same stream code
//   as the proxy's server side, and the code V8 optimised for that mix was thrown away again
//   (~43 deoptimisations in the first 10 client requests, which took 3-4 ms each against
//   ~0.4 ms warm); from a child, with some fresh connections at the end, ~13.
// The child is forked when Outrider starts, so its start-up overlaps the runtimes' own.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, Client, request } from 'undici';
import type { Config } from './config/types.ts';
import type { Logger } from './telemetry/log.ts';
import { hasExited, terminate } from '../runtime/child.ts';
import { entryPath } from '../runtime/entry-path.ts';

/** The header carrying the per-process secret that marks a warmup request, and the one naming its runtime. */
export const WARM_HEADER = 'x-outrider-warmup';
export const WARM_BACKEND_HEADER = 'x-outrider-warmup-backend';

/** Repetitions of a cheap probe (health, a request the worker refuses in validation). */
const REQUESTS_PER_PROBE = 32;
/** Repetitions of a real inference: enough calls for V8 to optimise the path (see above). */
const REQUESTS_PER_INFERENCE = 512;
/** Each real inference probe stops after this long: a slow model gets fewer (its requests are no faster for a warm JS path). */
const INFERENCE_BUDGET_MS = 1_000;
const CONCURRENCY = 4;
const FRESH_CONNECTIONS = 16;
/** The fresh connections stop after this long (a slow model's inferences are no faster for them). */
const FRESH_BUDGET_MS = 250;
/** Readiness waits for this warmup: past this budget no further warmup request is started. */
const WARM_BUDGET_MS = 10_000;
/** The child has this long past the budget to answer, then it is killed and readiness goes on. */
const CHILD_GRACE_MS = 2_000;

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
  /** No further repetition is started after this long (ms). */
  readonly budgetMs?: number;
}

/** What the warmup needs to know of a runtime (it travels to the child as JSON). */
export interface WarmRuntime {
  readonly name: string;
  readonly kind: 'onnx' | 'process';
  /** `kind: process`: its health path, null when it has a placeholder the proxy cannot fill. */
  readonly healthPath: string | null;
}

/** Requests every runtime answers cheaply, whatever its model: health, and (onnx) an infer the worker refuses in validation. */
function probes(r: WarmRuntime): Probe[] {
  if (r.kind === 'onnx') {
    return [
      { method: 'GET', path: '/v2/health/ready' },
      { method: 'POST', path: `/v2/models/${r.name}/infer`, body: '{"inputs":[]}' },
    ];
  }
  return r.healthPath === null ? [] : [{ method: 'GET', path: r.healthPath }];
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
  const gate = { repeat: REQUESTS_PER_INFERENCE, gated: true, budgetMs: INFERENCE_BUDGET_MS } as const;
  const out: Probe[] = [{ method: 'POST', path: `/v2/models/${name}/infer`, body: JSON.stringify({ inputs: tensors }), ...gate }];
  if (inputs.some((i) => i.name === 'input_ids')) {
    out.push({ method: 'POST', path: '/v1/embeddings', body: JSON.stringify({ model: name, input: 'warm up the embeddings path' }), ...gate });
  }
  return out;
}

/** The model's KServe v2 metadata through the proxy; {} when it cannot be had (then no valid infer is sent). */
async function metadata(agent: Agent, origin: string, r: WarmRuntime, headers: Record<string, string>): Promise<Parameters<typeof warmInferences>[1]> {
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

/** Everything the warmup client needs, as JSON. */
export interface WarmPlan {
  readonly target: WarmTarget;
  readonly token: string;
  readonly runtimes: readonly WarmRuntime[];
  readonly budgetMs: number;
}

export interface WarmResult {
  readonly requests: number;
  readonly statuses: Readonly<Record<number, number>>;
  readonly ms: number;
  /** Why it stopped early, when it did. */
  readonly error?: string;
}

export function warmPlan(config: Config, target: WarmTarget, token: string): WarmPlan {
  return {
    target, token, budgetMs: WARM_BUDGET_MS,
    runtimes: config.runtimes.map((r) => ({
      name: r.name, kind: r.kind,
      healthPath: r.kind === 'onnx' || r.health.path.includes('${') ? null : r.health.path,
    })),
  };
}

/**
 * Sends the plan's requests (in the warmup client process). Never throws. The runtimes are
 * warmed at once, each with CONCURRENCY requests in flight: each has its own worker processes
 * to warm, and start-up waits for the slowest.
 */
export async function runWarmup(plan: WarmPlan): Promise<WarmResult> {
  const started = performance.now();
  const { target } = plan;
  const connect = { ...(target.socketPath === null ? {} : { socketPath: target.socketPath }), ...(target.tls ? { rejectUnauthorized: false } : {}) };
  const agent = new Agent({ connections: CONCURRENCY * Math.max(1, plan.runtimes.length), connect });
  let sent = 0;
  const statuses: Record<number, number> = {};
  let error: string | undefined;
  const spent = () => performance.now() - started > plan.budgetMs;
  const headersFor = (r: WarmRuntime, json: boolean) => ({ [WARM_HEADER]: plan.token, [WARM_BACKEND_HEADER]: r.name, ...(json ? { 'content-type': 'application/json' } : {}) });
  const send = async (dispatcher: Agent | Client, r: WarmRuntime, p: Probe): Promise<number> => {
    const res = await request(`${target.origin}${p.path}`, { dispatcher, method: p.method, headers: headersFor(r, p.body !== undefined), body: p.body ?? null });
    await res.body.dump();
    sent++;
    statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
    return res.statusCode;
  };
  const warmRuntime = async (r: WarmRuntime): Promise<void> => {
    const all = probes(r);
    if (r.kind === 'onnx') all.push(...warmInferences(r.name, await metadata(agent, target.origin, r, headersFor(r, false))));
    for (const p of all) {
      if (spent()) return;
      let left = p.repeat ?? REQUESTS_PER_PROBE;
      const probeStarted = performance.now();
      const over = () => spent() || (p.budgetMs !== undefined && performance.now() - probeStarted > p.budgetMs);
      if (p.gated === true) {
        left--;
        if (await send(agent, r, p) !== 200) continue;
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (left > 0 && !over()) {
          left--;
          await send(agent, r, p);
        }
      }));
      // Then some on connections of their own: what a new client connection first does
      // (objects taking their shape) otherwise happens first with the code already optimised.
      if (p.gated !== true) continue;
      const freshStarted = performance.now();
      for (let k = 0; k < FRESH_CONNECTIONS && !spent() && performance.now() - freshStarted < FRESH_BUDGET_MS; k++) {
        const one = new Client(target.origin, { connect });
        try {
          for (let j = 0; j < 2; j++) await send(one, r, p);
        } finally {
          await one.close();
        }
      }
    }
  };
  try {
    // One runtime's failure (a reset, a refused connection) leaves the others' warmup and counts.
    const failed = (await Promise.allSettled(plan.runtimes.map(warmRuntime)))
      .map((o, k) => (o.status === 'rejected' ? `${plan.runtimes[k]!.name}: ${(o.reason as Error)?.message ?? String(o.reason)}` : null))
      .filter((m): m is string => m !== null);
    if (failed.length > 0) error = failed.join('; ');
  } finally {
    await agent.close().catch(() => undefined);
  }
  return { requests: sent, statuses, ms: Math.round(performance.now() - started), ...(error === undefined ? {} : { error }) };
}

/**
 * The warmup client process, forked when Outrider starts (its Node start-up then overlaps the
 * runtimes') and given its plan once they are ready. It exits when its channel closes, so it
 * never outlives Outrider.
 */
export class WarmClient {
  private readonly child: ChildProcess | null;
  private ending: Promise<void> | null = null;

  /** `entry`, `execPath`: the script run as the child and the node that runs it (tests give misbehaving ones). */
  constructor(log: Logger, { entry = entryPath('./warm-client.ts', import.meta.url), execPath = process.execPath } = {}) {
    let child: ChildProcess | null = null;
    try {
      child = fork(entry, [], { execPath, execArgv: [], stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'json' });
      // A failed spawn is reported here (fork() does not throw for it); so is a failed send.
      child.on('error', (e) => log.warn({ err: e.message }, 'proxy warmup client failed'));
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'proxy warmup client not started');
    }
    this.child = child;
  }

  /** Runs the plan in the child; the result, or why there is none. Never throws. */
  async run(plan: WarmPlan): Promise<WarmResult> {
    const child = this.child;
    const failed = (error: string, ms = 0): WarmResult => ({ requests: 0, statuses: {}, ms, error });
    // hasExited: also true when the spawn failed (no pid).
    if (child === null || hasExited(child) || !child.connected) {
      await this.stop();
      return failed('the warmup client is not running');
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<WarmResult>((resolve) => {
        child.once('message', (m) => resolve(m as WarmResult));
        child.once('exit', (code, signal) => resolve(failed(`the warmup client exited (${signal ?? code})`)));
        timer = setTimeout(() => resolve(failed('the warmup client did not answer in time', plan.budgetMs + CHILD_GRACE_MS)), plan.budgetMs + CHILD_GRACE_MS);
        child.send(plan, (err) => { if (err !== null) resolve(failed(`the warmup client failed: ${err.message}`)); });
      });
    } finally {
      clearTimeout(timer);
      await this.stop();
    }
  }

  /** Ends the child (it is used once): its channel closed, then SIGKILL after CHILD_GRACE_MS. Resolves once it has exited. */
  stop(): Promise<void> {
    const child = this.child;
    if (child === null) return Promise.resolve();
    this.ending ??= terminate(child, [
      { send: () => child.disconnect(), wait: CHILD_GRACE_MS },
      { send: () => child.kill('SIGKILL'), wait: Infinity },
    ]);
    return this.ending;
  }
}

/** Warms the forward path from `client` and logs the outcome. */
export async function warmForwardPath(config: Config, target: WarmTarget, token: string, log: Logger, client: WarmClient): Promise<WarmResult> {
  const result = await client.run(warmPlan(config, target, token));
  const { requests, statuses, ms } = result;
  // Warmup is an optimisation: a failure must not hold readiness back.
  if (result.error !== undefined) log.warn({ err: result.error, requests }, 'proxy warmup incomplete');
  else log.info({ requests, statuses, ms, ...(ms > WARM_BUDGET_MS ? { budgetMs: WARM_BUDGET_MS } : {}) }, 'proxy forward path warmed');
  return result;
}
