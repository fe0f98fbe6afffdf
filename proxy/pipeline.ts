// One unit of composition (STYLE): a policy turns the next handler into a new one.
import type { Readable } from 'node:stream';
import type { RequestContext } from './context.ts';
import { UpstreamBody } from './exchange.ts';

export interface Reply {
  readonly status: number;
  /** Flat [name, value, ...] list, already stripped of hop-by-hop headers. */
  readonly headers: string[];
  /** A stream (upstream body), a buffer (local answer) or nothing. */
  readonly body: Readable | Buffer | null;
}

export type Handler = (ctx: RequestContext) => Promise<Reply>;

/**
 * Lets go of a reply that will not be sent (a retried or replaced 5xx). An upstream body is read
 * to its end when small and prompt (UpstreamBody.dump), so its keep-alive connection goes back to
 * the pool; a larger or stalled one is destroyed, closing that connection.
 */
export function discardReply(reply: Reply): void {
  const body = reply.body;
  if (body === null || Buffer.isBuffer(body)) return;
  if (body instanceof UpstreamBody) void body.dump({ limit: 64 * 1024, timeoutMs: DISCARD_WAIT_MS });
  else body.destroy();
}

const DISCARD_WAIT_MS = 2_000;
export type Policy = (next: Handler) => Handler;

/** compose(a, b, c)(h) === a(b(c(h))): the first policy is the outermost layer. */
export function compose(...policies: readonly Policy[]): Policy {
  return (inner) => policies.reduceRight((next, policy) => policy(next), inner);
}
