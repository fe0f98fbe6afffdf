// The response-cache key (issue 7): route, method, path and query, the body (canonical JSON,
// else its raw bytes), the route's `vary` request headers, and what answers the route: each
// backend's name and model version (a runtime's `version`, live, so a new model version
// never serves old answers) or, for an upstream, its endpoints.
import { hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { BackendSet } from '../../runtime/types.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { storeKey } from '../../proxy/cache/store.ts';
import { canonicalJson, looksLikeJson, parseJsonBody } from './canonical.ts';

export interface KeyInput {
  readonly method: string;
  /** Path and query as the client sent them. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface RequestKey {
  readonly key: string;
  /**
   * For a JSON body whose key had to be canonicalised: the alias (a digest of its exact bytes)
   * to record next to an entry stored or found under `key`, so that the same bytes skip the
   * parse next time. null when the key came from an alias or the body is not JSON.
   */
  readonly alias: string | null;
}

export type Keyer = (req: KeyInput) => RequestKey;

/**
 * What answers the route now, as text for a key: each split backend's name with its runtime
 * version (read live: a runtime replaced with a new version changes it) or upstream endpoints.
 */
export function backendFingerprint(b: RouteBuild): () => string {
  const sets = b.route.backends.map((ref) => b.backends.get(ref.to)).filter((s): s is BackendSet => s !== undefined);
  const upstreams = new Map(b.config.upstreams.map((u) => [u.name, u.endpoints.join(',')]));
  return () => {
    let out = '';
    for (const s of sets) out += `${s.name}\u0000${s.kind === 'upstream' ? (upstreams.get(s.name) ?? '') : s.version}\u0000`;
    return out;
  };
}

/**
 * Canonicalising JSON costs a parse (tens of microseconds for a small tensor); repeated requests
 * usually repeat their bytes exactly, so a key found once is remembered under a digest of those
 * bytes (an alias, in this process's tier of the store: it is derived data, and as exact as the
 * key, since it covers everything the key does).
 */
export function routeKeyer(b: RouteBuild, vary: readonly string[]): Keyer {
  const route = b.route.name;
  const models = backendFingerprint(b);
  const aliases = b.cache;
  // storeKey(kind, route, digest) is a prefix and the digest: the prefixes are made once.
  const aliasPrefix = storeKey('a', route, '');
  const keyPrefix = storeKey('r', route, '');
  const routeHead = `${route}\u0000`;
  // One-shot hashing: no Hash object per request (they are freed only by a later GC).
  const digest = (head: string, body: Buffer) => hash('sha256', Buffer.concat([Buffer.from(head), body]), 'base64url');
  return (req) => {
    let head = `${routeHead}${req.method}\u0000${req.url}\u0000${models()}`;
    for (const name of vary) {
      const v = req.headers[name];
      // Absent and empty differ: \u0001 marks absent.
      head += v === undefined ? '\u0001\u0000' : `=${typeof v === 'string' ? v : v.join(', ')}\u0000`;
    }
    const h = req.headers['content-type'];
    const ct = typeof h === 'string' ? h : undefined;
    // Raw bytes mean what their media type says they mean.
    head += `${ct ?? ''}\u0000`;
    if (looksLikeJson(req.body, ct)) {
      const alias = aliasPrefix + digest(`${head}bytes\u0000`, req.body);
      const known = aliases.peek(alias);
      if (known !== null) return { key: known.toString('latin1'), alias: null };
      const json = parseJsonBody(req.body, ct);
      if (json !== undefined) return { key: keyPrefix + hash('sha256', `${head}json\u0000${canonicalJson(json)}`, 'base64url'), alias };
    }
    return { key: keyPrefix + digest(`${head}raw\u0000`, req.body), alias: null };
  };
}
