// Route budget (SPEC §3 deadline): the effective deadline is the smaller of the client's
// x-timeout-ms (already applied at the edge) and the route's `timeout`. Expiry aborts the
// context's signal, which cancels the upstream attempt and, through x-timeout-ms, the runtime's queue.
import type { Policy } from '../../proxy/pipeline.ts';
import type { TimeoutConfig } from './config.ts';

export function timeoutPolicy(cfg: TimeoutConfig): Policy {
  return (next) => (ctx) => {
    ctx.limitBudget(cfg.timeout);
    return next(ctx);
  };
}
