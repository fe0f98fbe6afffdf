// An open-loop load generator (requests are sent on schedule, whether or not earlier ones have
// answered: no coordinated omission), and the order statistics the report needs.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Agent, request } from 'undici';

export interface Sample {
  readonly status: number;
  /** Client-observed latency, from the scheduled send time. */
  readonly ms: number;
  readonly requestId: string | null;
}

const agent = new Agent({ connections: 1024, keepAliveTimeout: 30_000, pipelining: 1 });

export async function closeLoad(): Promise<void> {
  await agent.close();
}

/** `rate` requests a second for `seconds`, to `url`; resolves when every request has ended. */
export async function openLoop(url: string, rate: number, seconds: number, body = '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}'): Promise<Sample[]> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const start = performance.now();
  const pending: Promise<Sample>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(one(url, due, body));
  }
  return Promise.all(pending);
}

async function one(url: string, due: number, body: string): Promise<Sample> {
  try {
    const res = await request(url, { dispatcher: agent, method: 'POST', body, headers: { 'content-type': 'application/json' } });
    await res.body.dump();
    const id = res.headers['x-request-id'];
    return { status: res.statusCode, ms: performance.now() - due, requestId: typeof id === 'string' ? id : null };
  } catch {
    return { status: 0, ms: performance.now() - due, requestId: null };
  }
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

export function max(values: readonly number[]): number {
  return values.reduce((m, v) => Math.max(m, v), -Infinity);
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * The load generator's own event-loop stalls during `work`: on a machine busy with other work,
 * every process stalls alike, and a proxy's tail latency is worth reading next to this figure.
 */
export async function withStalls<T>(work: () => Promise<T>): Promise<{ result: T; stallMaxMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  try {
    const result = await work();
    return { result, stallMaxMs: round(h.max / 1e6) };
  } finally {
    h.disable();
  }
}
