// The `cache: stale` rung: the route's cached response for the same key, fresh or expired within
// `cache.staleFor`, looked up in the response cache's store (policies/cache/stale.ts).
import type { RouteBuild } from '../../proxy/routing.ts';
import { staleLookup } from '../cache/stale.ts';
import type { Rung } from './rungs.ts';

export function staleRung(b: RouteBuild): Rung | null {
  const lookup = staleLookup(b);
  if (lookup === null) return null;
  return {
    degraded: 'stale-cache',
    replays: true,
    sendsOn: false,
    answer: async (ctx) => {
      ctx.backend = 'none';
      const reply = await lookup(ctx);
      if (reply !== null) ctx.cacheStatus = 'stale';
      return reply;
    },
  };
}
