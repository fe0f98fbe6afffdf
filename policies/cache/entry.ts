// A stored response as bytes: the same encoding in the memory tier and in Redis, so a
// replica decodes what another stored. A small binary envelope, not JSON: the body stays raw
// and a hit is decoded without copying it.
//
//   u8 format | u16 status | f64 storedAt | f64 freshUntil | u32 initial age (s)
//   str16 backend | u16 n, n × (str16 name, str32|absent value)   request headers the response varies on
//   u16 n, n × (str16 name, str32 value)                           response headers
//   body (the rest)
import type { IncomingHttpHeaders } from 'node:http';
import type { Reply } from '../../proxy/pipeline.ts';

const FORMAT = 1;
const ABSENT = 0xffffffff;

export interface Entry {
  readonly status: number;
  /** Epoch ms (wall clock: replicas sharing Redis compare it). */
  readonly storedAt: number;
  readonly freshUntil: number;
  /** The origin's own Age header when it was stored, in seconds. */
  readonly initialAge: number;
  readonly backend: string;
  /** [name, value | null] of request headers named by the response's Vary (beyond the route's `vary`, which is in the key). */
  readonly varies: readonly (readonly [string, string | null])[];
  readonly headers: readonly string[];
  readonly body: Buffer;
}

// Set by Outrider per response (age, length, its own headers) or meaningless once stored.
const NOT_STORED = new Set(['content-length', 'age', 'x-outrider-cache', 'x-outrider-degraded', 'x-outrider-backend']);
const NO_MORE: ReadonlySet<string> = new Set();

/** `drop`: more lower-case header names not to store (the request-id header: each reply carries its own). */
export function encodeEntry(e: Entry, drop: ReadonlySet<string> = NO_MORE): Buffer {
  const backend = Buffer.from(e.backend);
  const parts: Buffer[] = [];
  let size = 1 + 2 + 8 + 8 + 4 + 2 + backend.length + 2 + 2 + e.body.length;
  for (const [name, value] of e.varies) {
    const n = Buffer.from(name, 'latin1'), v = value === null ? null : Buffer.from(value, 'latin1');
    parts.push(n);
    if (v !== null) parts.push(v);
    size += 2 + n.length + 4 + (v?.length ?? 0);
  }
  let headerCount = 0;
  for (let i = 0; i < e.headers.length; i += 2) {
    const lower = e.headers[i]!.toLowerCase();
    if (NOT_STORED.has(lower) || drop.has(lower)) continue;
    // HTTP field values are octets; Node and undici hand them over as latin1 strings.
    const n = Buffer.from(e.headers[i]!, 'latin1'), v = Buffer.from(e.headers[i + 1]!, 'latin1');
    parts.push(n, v);
    size += 2 + n.length + 4 + v.length;
    headerCount++;
  }
  // Its own allocation (never a slice of a pooled slab), so the store charges what it holds.
  const out = Buffer.allocUnsafeSlow(size);
  let at = out.writeUInt8(FORMAT, 0);
  at = out.writeUInt16LE(e.status, at);
  at = out.writeDoubleLE(e.storedAt, at);
  at = out.writeDoubleLE(e.freshUntil, at);
  at = out.writeUInt32LE(Math.min(e.initialAge, ABSENT - 1), at);
  at = out.writeUInt16LE(backend.length, at);
  at += backend.copy(out, at);
  at = out.writeUInt16LE(e.varies.length, at);
  let p = 0;
  for (const [, value] of e.varies) {
    const n = parts[p++]!;
    at = out.writeUInt16LE(n.length, at);
    at += n.copy(out, at);
    if (value === null) {
      at = out.writeUInt32LE(ABSENT, at);
    } else {
      const v = parts[p++]!;
      at = out.writeUInt32LE(v.length, at);
      at += v.copy(out, at);
    }
  }
  at = out.writeUInt16LE(headerCount, at);
  for (let h = 0; h < headerCount; h++) {
    const n = parts[p++]!, v = parts[p++]!;
    at = out.writeUInt16LE(n.length, at);
    at += n.copy(out, at);
    at = out.writeUInt32LE(v.length, at);
    at += v.copy(out, at);
  }
  e.body.copy(out, at);
  return out;
}

/** The entry, or null for bytes that are not one (another version's format, a truncated value). */
export function decodeEntry(buf: Buffer): Entry | null {
  try {
    if (buf.readUInt8(0) !== FORMAT) return null;
    const status = buf.readUInt16LE(1);
    const storedAt = buf.readDoubleLE(3);
    const freshUntil = buf.readDoubleLE(11);
    const initialAge = buf.readUInt32LE(19);
    let at = 23;
    const bl = buf.readUInt16LE(at);
    at += 2;
    const backend = buf.toString('utf8', at, at + bl);
    at += bl;
    const vn = buf.readUInt16LE(at);
    at += 2;
    const varies: [string, string | null][] = [];
    for (let i = 0; i < vn; i++) {
      const nl = buf.readUInt16LE(at);
      const name = buf.toString('latin1', at + 2, at + 2 + nl);
      at += 2 + nl;
      const vl = buf.readUInt32LE(at);
      at += 4;
      if (vl === ABSENT) { varies.push([name, null]); continue; }
      varies.push([name, buf.toString('latin1', at, at + vl)]);
      at += vl;
    }
    const hn = buf.readUInt16LE(at);
    at += 2;
    const headers: string[] = new Array(hn * 2);
    for (let i = 0; i < hn; i++) {
      const nl = buf.readUInt16LE(at);
      headers[2 * i] = buf.toString('latin1', at + 2, at + 2 + nl);
      at += 2 + nl;
      const vl = buf.readUInt32LE(at);
      headers[2 * i + 1] = buf.toString('latin1', at + 4, at + 4 + vl);
      at += 4 + vl;
    }
    if (at > buf.length) return null;
    return { status, storedAt, freshUntil, initialAge, backend, varies, headers, body: buf.subarray(at) };
  } catch {
    return null;
  }
}

/** Entries decoded on a read of the store, remembered by their bytes' identity (decodeStored). */
const DECODED_MAX = 1024;
/** Header bytes past which an entry is decoded afresh on every read instead of being remembered. */
const DECODED_MAX_HEADER_BYTES = 4 * 1024;
const decoded = new WeakMap<Buffer, Entry>();
const decodedRing: (WeakRef<Buffer> | undefined)[] = new Array(DECODED_MAX);
let decodedNext = 0;

/**
 * decodeEntry for bytes read from the store: a store holds an entry's bytes in one Buffer until
 * it replaces or evicts it, so the entry decoded from that Buffer is remembered (a WeakMap: it
 * goes with the Buffer) and a hit skips the decode (its header strings, arrays and objects).
 * At most DECODED_MAX are remembered, the oldest forgotten first, and none with large headers:
 * the memory they take beside the store stays small and bounded.
 */
export function decodeStored(buf: Buffer): Entry | null {
  const known = decoded.get(buf);
  if (known !== undefined) return known;
  const e = decodeEntry(buf);
  if (e === null || buf.length - e.body.length > DECODED_MAX_HEADER_BYTES) return e;
  const old = decodedRing[decodedNext]?.deref();
  if (old !== undefined) decoded.delete(old);
  decodedRing[decodedNext] = new WeakRef(buf);
  decodedNext = (decodedNext + 1) % DECODED_MAX;
  decoded.set(buf, e);
  return e;
}

/** Whether the request carries the same values of the headers the stored response varies on. */
export function variesMatch(e: Entry, headers: IncomingHttpHeaders): boolean {
  for (const [name, value] of e.varies) if (headerValue(headers, name) !== value) return false;
  return true;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | null {
  const v = headers[name];
  if (v === undefined) return null;
  return typeof v === 'string' ? v : v.join(', ');
}

/** A reply for the client: a fresh header list (the edge appends to it), the exact length, and Age when served from the store. */
export function replyFromEntry(e: Entry, withAge: boolean, now = Date.now()): Reply {
  const headers = e.headers.slice();
  headers.push('content-length', String(e.body.length));
  if (withAge) headers.push('age', String(e.initialAge + Math.max(0, Math.floor((now - e.storedAt) / 1000))));
  return { status: e.status, headers, body: e.body };
}

/** The stored entry for `key` that fits this request (fresh or not), or null. */
export async function readEntry(store: { get(key: string): Promise<Buffer | null> }, key: string, headers: IncomingHttpHeaders): Promise<Entry | null> {
  const value = await store.get(key);
  if (value === null) return null;
  const e = decodeStored(value);
  return e !== null && variesMatch(e, headers) ? e : null;
}
