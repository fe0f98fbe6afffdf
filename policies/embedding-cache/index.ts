// Per-item embedding cache (SPEC §2 `embeddingCache`, §4): each input of a batch is its own
// entry, keyed with the request's other fields and the backends' model versions. Cached items
// are answered from the store and only the misses go to the backend, as one smaller request;
// the answer is merged back in input order. x-outrider-cache: hit (all cached), partial, miss.
import { createHash } from 'node:crypto';
import type { RequestContext } from '../../proxy/context.ts';
import { OutriderError } from '../../proxy/errors.ts';
import type { Handler, Policy, Reply } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { storeKey } from '../../proxy/cache/store.ts';
import { collectBody } from '../cache/body.ts';
import { requestMode, storableFor } from '../cache/control.ts';
import { backendFingerprint } from '../cache/key.ts';
import { CacheStats } from '../cache/stats.ts';
import { protocolFor } from './config.ts';
import type { Batch } from './protocol.ts';
import { ItemStats } from './stats.ts';

/** The most of a backend answer buffered to split and merge; a larger one to a rewritten request is an error. */
const MAX_MERGE_BYTES = 64 * 1024 * 1024;

export function embeddingCachePolicy(b: RouteBuild): Policy | null {
  const cfg = b.route.embeddingCache;
  if (cfg === null) return null;
  const route = b.route.name;
  const store = b.cache;
  const maxEntry = b.config.cache.maxEntryBytes;
  const models = backendFingerprint(b);
  const stats = b.persist(`embedding-cache:stats:${route}`, '', () => new ItemStats(route, b.events, new CacheStats(route, b.events)));
  b.addStatus('embeddingCache', () => ({ ttlMs: cfg.ttl, ...stats.report() }));

  const keysFor = (ctx: RequestContext, protocol: string, batch: Batch): string[] => {
    // One digest of what every item shares, then one per item.
    const shared = createHash('sha256').update(`${route}\u0000${ctx.req.url ?? '/'}\u0000${models()}\u0000${protocol}\u0000${batch.context}`).digest();
    return batch.items.map((item) => storeKey('e', route, createHash('sha256').update(shared).update(item).digest('base64url')));
  };

  /** The backend's answer to the misses, stored item by item and merged with the hits. */
  const complete = async (ctx: RequestContext, next: Handler, batch: Batch, keys: readonly string[], found: readonly (Buffer | null)[], rows: readonly number[], rewritten: boolean): Promise<Reply> => {
    const reply = await next(ctx);
    if (reply.status < 200 || reply.status > 299) return reply;
    const got = await collectBody(reply, MAX_MERGE_BYTES, ctx.signal);
    if (got.kind === 'too-large') {
      if (!rewritten) return { status: reply.status, headers: reply.headers, body: got.body };
      throw new OutriderError('bad_gateway', `the backend's answer to the uncached items exceeds ${MAX_MERGE_BYTES} bytes`, { detail: 'invalid_response' });
    }
    const body = Buffer.concat(got.chunks, got.size);
    const split = batch.split(body, rows.length);
    if (split === null) {
      // Not one item per input (another shape, an encoded body): the answer is usable only whole.
      if (!rewritten) return { status: reply.status, headers: reply.headers, body };
      throw new OutriderError('bad_gateway', 'the backend did not answer with one item per uncached input', { detail: 'invalid_response' });
    }
    const lifetime = storableFor(reply.status, reply.headers, cfg.ttl, false);
    const computed = new Map<string, Buffer>();
    rows.forEach((r, j) => {
      const key = keys[r]!;
      const value = split.values[j]!;
      computed.set(key, value);
      if (lifetime > 0 && value.length <= maxEntry) store.set(key, value, lifetime);
    });
    if (!rewritten) return { status: reply.status, headers: reply.headers, body };
    const values = found.map((v, i) => v ?? computed.get(keys[i]!)!);
    let merged: Buffer;
    try {
      merged = batch.merge(values, split);
    } catch (e) {
      throw new MergeError('stored items could not be merged', { cause: e });
    }
    return withBody(reply.status, reply.headers, merged);
  };

  return (next) => async (ctx) => {
    ctx.cacheStatus = 'miss';
    const protocol = ctx.req.method === 'POST' ? protocolFor(ctx.path) : null;
    const mode = requestMode(ctx.req.headers);
    if (protocol === null || mode === 'bypass') {
      stats.requests.record('bypass');
      return next(ctx);
    }
    const original = await ctx.readBody();
    const batch = protocol.parse(original, ctx.req.headers);
    if (batch === null) {
      stats.requests.record('bypass');
      return next(ctx);
    }
    const keys = keysFor(ctx, protocol.name, batch);
    const found = mode === 'revalidate'
      ? keys.map(() => null)
      : (await Promise.all(keys.map((k) => store.get(k)))).map((v) => (v !== null && batch.accepts(v) ? v : null));
    // Each distinct missing item is asked once, however often the request repeats it.
    const rows: number[] = [];
    const asked = new Set<string>();
    let hits = 0;
    for (let i = 0; i < keys.length; i++) {
      if (found[i] !== null) { hits++; continue; }
      if (asked.has(keys[i]!)) continue;
      asked.add(keys[i]!);
      rows.push(i);
    }
    if (rows.length === 0) {
      const merged = tryMerge(batch, found as Buffer[]);
      if (merged !== null) {
        ctx.cacheStatus = 'hit';
        ctx.backend = 'cache';
        stats.requests.record('hit');
        stats.items(hits, 0);
        return withBody(200, ['content-type', 'application/json'], merged);
      }
      return whole(ctx, next, original);
    }
    const rewritten = rows.length < keys.length;
    if (rewritten) ctx.body = batch.subset(rows);
    ctx.cacheStatus = hits > 0 ? 'partial' : 'miss';
    stats.requests.record(hits > 0 ? 'partial' : 'miss');
    stats.items(hits, rows.length);
    try {
      return await complete(ctx, next, batch, keys, found, rows, rewritten);
    } catch (e) {
      if (e instanceof MergeError) return whole(ctx, next, original);
      throw e;
    }
  };

  /** Stored items that cannot be merged (foreign or inconsistent bytes): the backend answers the whole request. */
  function whole(ctx: RequestContext, next: Handler, original: Buffer): Promise<Reply> {
    ctx.cacheStatus = 'miss';
    ctx.body = original;
    return next(ctx);
  }
}

/** Stored values that do not fit together (written by another version): the request is sent whole instead. */
class MergeError extends Error {}

function tryMerge(batch: Batch, values: readonly Buffer[]): Buffer | null {
  try {
    return batch.merge(values, null);
  } catch {
    return null;
  }
}

/** A reply with a rebuilt body: the backend's headers with the new length. */
function withBody(status: number, headers: readonly string[], body: Buffer): Reply {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== 'content-length') out.push(headers[i]!, headers[i + 1]!);
  }
  out.push('content-length', String(body.length));
  return { status, headers: out, body };
}
