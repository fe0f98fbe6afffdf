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

/** Bodies up to this size are remembered by their exact bytes (KeyMemo). */
const MEMO_BODY_MAX_BYTES = 4 * 1024;
/** The memo's bound for the whole process: entries, and bytes (bodies, heads and keys). */
const MEMO_MAX_ENTRIES = 4096;
const MEMO_MAX_BYTES = 4 * 1024 * 1024;
/** Entries kept per hash value: a crafted flood of colliding bodies costs a lookup at most this many compares. */
const MEMO_BUCKET_MAX = 4;
/** Charged per entry beyond its bytes (the object, the Buffer, its slots). */
const MEMO_ENTRY_OVERHEAD = 160;

interface MemoEntry {
  readonly hash: number;
  readonly head: string;
  readonly body: Buffer;
  readonly key: string;
  readonly bytes: number;
}

/**
 * Recent requests' exact text (the key's head and the body's bytes) -> their key. A key is a
 * pure function of that text, so an entry never goes stale, and one memo serves every route
 * and every reload. A hit costs a hash of the body's words in JavaScript and one compare of
 * the bytes, where a SHA-256 digest of the same bytes measured ~5 µs in the proxy for a 1 KiB
 * body, two thirds of a cache hit's key (and a Map keyed by the text ~4 µs: a string made and
 * hashed per request). Bounded in entries and bytes; the oldest go first.
 */
export class KeyMemo {
  private readonly buckets = new Map<number, MemoEntry[]>();
  private readonly ring: (MemoEntry | undefined)[] = new Array(MEMO_MAX_ENTRIES);
  private next = 0;
  private entries = 0;
  private bytes = 0;
  private readonly seed = (Math.random() * 0x100000000) >>> 0;

  hashOf(body: Buffer): number {
    const words = body.length & ~3;
    let h = (this.seed ^ body.length) >>> 0;
    // Little-endian words put together from bytes: as fast as a DataView, without making one per request.
    for (let i = 0; i < words; i += 4) h = Math.imul(h ^ (body[i]! | (body[i + 1]! << 8) | (body[i + 2]! << 16) | (body[i + 3]! << 24)), 0x01000193);
    for (let i = words; i < body.length; i++) h = Math.imul(h ^ body[i]!, 0x01000193);
    return (h ^ (h >>> 15)) >>> 0;
  }

  /** Entries and bytes held. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries, bytes: this.bytes };
  }

  get(hash: number, head: string, body: Buffer): string | undefined {
    const bucket = this.buckets.get(hash);
    if (bucket === undefined) return undefined;
    for (const e of bucket) if (e.head === head && e.body.equals(body)) return e.key;
    return undefined;
  }

  set(hash: number, head: string, body: Buffer, key: string): void {
    let bucket = this.buckets.get(hash);
    if (bucket === undefined) this.buckets.set(hash, bucket = []);
    else if (bucket.length >= MEMO_BUCKET_MAX) return;
    // Its own allocation: the request's body is a slice of a socket read it would keep alive.
    const copy = Buffer.allocUnsafeSlow(body.length);
    body.copy(copy);
    const e: MemoEntry = { hash, head, body: copy, key, bytes: body.length + head.length + key.length + MEMO_ENTRY_OVERHEAD };
    bucket.push(e);
    this.entries++;
    this.bytes += e.bytes;
    this.evict(this.ring[this.next]);
    this.ring[this.next] = e;
    this.next = (this.next + 1) % MEMO_MAX_ENTRIES;
    // Past the byte bound: the oldest go (the ring's next slots on), never the newest.
    for (let n = 1, i = this.next; this.bytes > MEMO_MAX_BYTES && n < MEMO_MAX_ENTRIES; n++, i = (i + 1) % MEMO_MAX_ENTRIES) {
      this.evict(this.ring[i]);
      this.ring[i] = undefined;
    }
  }

  private evict(e: MemoEntry | undefined): void {
    if (e === undefined) return;
    this.entries--;
    this.bytes -= e.bytes;
    const bucket = this.buckets.get(e.hash)!;
    bucket.splice(bucket.indexOf(e), 1);
    if (bucket.length === 0) this.buckets.delete(e.hash);
  }
}

const memo = new KeyMemo();

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
    if (req.body.length > MEMO_BODY_MAX_BYTES) return keyOfBody(head, req.body, ct);
    const bodyHash = memo.hashOf(req.body);
    const known = memo.get(bodyHash, head, req.body);
    if (known !== undefined) return { key: known, alias: null };
    const rk = keyOfBody(head, req.body, ct);
    memo.set(bodyHash, head, req.body, rk.key);
    return rk;
  };

  function keyOfBody(head: string, body: Buffer, ct: string | undefined): RequestKey {
    if (looksLikeJson(body, ct)) {
      const alias = aliasPrefix + digest(`${head}bytes\u0000`, body);
      const known = aliases.peek(alias);
      if (known !== null) return { key: known.toString('latin1'), alias: null };
      const json = parseJsonBody(body, ct);
      if (json !== undefined) return { key: keyPrefix + hash('sha256', `${head}json\u0000${canonicalJson(json)}`, 'base64url'), alias };
    }
    return { key: keyPrefix + digest(`${head}raw\u0000`, body), alias: null };
  }
}
