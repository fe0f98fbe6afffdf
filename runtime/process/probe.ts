// HTTP checks against a `kind: process` replica: the health probe and the warmup requests.
import type { Client } from 'undici';
import type { ProcessRuntimeConfig } from '../../proxy/config/types.ts';
import { formatMs } from '../format-ms.ts';

export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly detail: string; readonly timedOut?: boolean };

const OK: CheckResult = Object.freeze({ ok: true });
const BODY_IN_REASON = 200;

/** One health probe: 2xx within `timeoutMs` is healthy. */
export async function probe(client: Client, path: string, timeoutMs: number, stop: AbortSignal): Promise<CheckResult> {
  return send(client, { method: 'GET', path, headers: {}, body: null }, timeoutMs, stop);
}

/**
 * Each warmup request `iterations` times, in order, each required to answer 2xx, all
 * within `budgetMs`. Returns null when all passed, else why not.
 */
export async function warmUp(client: Client, warmup: ProcessRuntimeConfig['warmup'], budgetMs: number, stop: AbortSignal): Promise<string | null> {
  const deadline = Date.now() + budgetMs;
  const total = warmup.iterations * warmup.requests.length;
  let n = 0;
  for (let i = 0; i < warmup.iterations; i++) {
    for (const request of warmup.requests) {
      n++;
      const left = deadline - Date.now();
      const result: CheckResult = left > 0
        ? await send(client, request, left, stop)
        : { ok: false, detail: `warmup took longer than ${formatMs(budgetMs)}` };
      if (stop.aborted) return null;
      if (!result.ok) return `warmup request ${n}/${total} (${request.method} ${request.path}) failed: ${result.detail}`;
    }
  }
  return null;
}

interface Request {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | null;
}

async function send(client: Client, request: Request, timeoutMs: number, stop: AbortSignal): Promise<CheckResult> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await client.request({
      method: request.method,
      path: request.path,
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.any([stop, timeout]),
    });
    if (res.statusCode >= 200 && res.statusCode < 300) {
      await res.body.dump();
      return OK;
    }
    const text = (await res.body.text()).trim().slice(0, BODY_IN_REASON);
    return { ok: false, detail: text === '' ? `HTTP ${res.statusCode}` : `HTTP ${res.statusCode}: ${text}` };
  } catch (err) {
    if (timeout.aborted && !stop.aborted) return { ok: false, detail: `timeout after ${formatMs(timeoutMs)}`, timedOut: true };
    return { ok: false, detail: describeError(err) };
  }
}

/** "ECONNREFUSED", "ECONNRESET", else undici's message. */
function describeError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  return err instanceof Error ? err.message : String(err);
}
