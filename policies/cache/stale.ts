// Stale-if-error (RFC 5861 §4): the fallback ladder's `cache: stale` step answers with the
// route's cached response for the same key, fresh or expired within `staleFor`, when the
// backends failed. The fallback sets ctx.degraded; this marks the answer `stale`.
import type { RequestContext } from '../../proxy/context.ts';
import type { Reply } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { CACHEABLE_METHODS } from './config.ts';
import { readEntry, replyFromEntry } from './entry.ts';
import { routeKeyer } from './key.ts';

/** null when the route has no `cache`; otherwise a lookup answering null when nothing usable is stored. */
export function staleLookup(b: RouteBuild): ((ctx: RequestContext) => Promise<Reply | null>) | null {
  const cfg = b.route.cache;
  if (cfg === null) return null;
  const store = b.cache;
  const keyOf = routeKeyer(b, cfg.vary);
  return async (ctx) => {
    let key = ctx.cacheKey;
    if (key === null) {
      // The cache layer stayed out of this request (no-store): the key is still well defined.
      const method = ctx.req.method ?? 'GET';
      if (!CACHEABLE_METHODS.has(method)) return null;
      key = keyOf({ method, url: ctx.req.url ?? '/', headers: ctx.req.headers, body: await ctx.readBody() }).key;
    }
    const e = await readEntry(store, key, ctx.req.headers);
    if (e === null) return null;
    ctx.cacheStatus = 'stale';
    ctx.backend = e.backend;
    return replyFromEntry(e, true);
  };
}
