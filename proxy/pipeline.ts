// One unit of composition (STYLE): a policy turns the next handler into a new one.
import type { Readable } from 'node:stream';
import type { RequestContext } from './context.ts';

export interface Reply {
  readonly status: number;
  /** Flat [name, value, ...] list, already stripped of hop-by-hop headers. */
  readonly headers: string[];
  /** A stream (upstream body), a buffer (local answer) or nothing. */
  readonly body: Readable | Buffer | null;
}

export type Handler = (ctx: RequestContext) => Promise<Reply>;
export type Policy = (next: Handler) => Handler;

/** compose(a, b, c)(h) === a(b(c(h))): the first policy is the outermost layer. */
export function compose(...policies: readonly Policy[]): Policy {
  return (inner) => policies.reduceRight((next, policy) => policy(next), inner);
}
