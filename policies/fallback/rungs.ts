// The rungs of the ladder, built once per route from the normalised steps.
import type { RequestContext } from '../../proxy/context.ts';
import type { Reply } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import type { FallbackStep } from './config.ts';
import { staleRung } from './stale.ts';

export interface Rung {
  /** x-outrider-degraded when this rung answers. */
  readonly degraded: 'stale-cache' | 'fallback' | 'static';
  /** Whether it needs the request body buffered (to replay it, or to key a cache lookup). */
  readonly replays: boolean;
  /** Whether it sends the request to a backend (and so may take time). */
  readonly sendsOn: boolean;
  /** A reply, or null when the rung has nothing (a stale-cache miss). */
  answer(ctx: RequestContext): Promise<Reply | null>;
}

export function buildRung(b: RouteBuild, step: FallbackStep): Rung | null {
  switch (step.kind) {
    case 'stale-cache': return staleRung(b);
    case 'backend': return backendRung(b, step.to);
    case 'static': return staticRung(step);
  }
}

/** Another backend, through its own breaker (b.toBackend), with all that is left of the budget. */
function backendRung(b: RouteBuild, to: string): Rung {
  const toBackend = b.toBackend;
  return {
    degraded: 'fallback',
    replays: true,
    sendsOn: true,
    answer: (ctx) => {
      ctx.target = to;
      return toBackend(ctx);
    },
  };
}

/** The configured answer; its head is built once, and copied per reply since the edge appends to it. */
function staticRung(step: Extract<FallbackStep, { kind: 'static' }>): Rung {
  const body = Buffer.from(step.body);
  const head: string[] = ['content-type', step.contentType, 'content-length', String(body.length)];
  for (const [name, value] of Object.entries(step.headers)) {
    if (name !== 'content-length') head.push(name, value);
  }
  return {
    degraded: 'static',
    replays: false,
    sendsOn: false,
    answer: async (ctx) => {
      // No backend answered: x-outrider-backend and the metrics' backend label say so.
      ctx.backend = 'none';
      ctx.endpoint = null;
      return { status: step.status, headers: head.slice(), body };
    },
  };
}
