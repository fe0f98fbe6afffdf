// POST /cache/purge[?route=NAME] on the admin port: deletes every cached entry (responses and
// embedding items), or one route's, and answers how many were deleted. With the Redis store
// the shared entries are deleted too; other replicas' local copies expire within seconds.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DataPlane } from '../server.ts';

export async function purgeCache(d: { readonly plane: DataPlane }, req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume();
  const url = new URL(req.url ?? '/', 'http://admin');
  const route = url.searchParams.get('route');
  const table = d.plane.table;
  if (route !== null && !table.routes.some((r) => r.name === route)) {
    return reply(res, 404, { error: { code: 'not_found', message: `no route is named ${JSON.stringify(route)}; known routes: ${table.routes.map((r) => r.name).join(', ')}` } });
  }
  let purged: number;
  try {
    purged = await table.cache.purge(route);
  } catch (e) {
    d.plane.log.warn({ err: (e as Error).message, route }, 'cache purge failed');
    return reply(res, 503, { error: { code: 'unavailable', message: `the shared cache store could not be purged: ${(e as Error).message}` } });
  }
  d.plane.log.info({ route, purged }, 'cache purged');
  reply(res, 200, { purged, route });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
