// Cache-Control (RFC 9111 §5.2) as a shared cache reads it, and what may be stored.
import type { IncomingHttpHeaders } from 'node:http';

export interface Directives {
  readonly noStore: boolean;
  readonly noCache: boolean;
  readonly private: boolean;
  readonly public: boolean;
  readonly mustRevalidate: boolean;
  /** Seconds; null when absent or malformed. */
  readonly maxAge: number | null;
  readonly sMaxAge: number | null;
}

const NONE: Directives = Object.freeze({ noStore: false, noCache: false, private: false, public: false, mustRevalidate: false, maxAge: null, sMaxAge: null });

export function parseCacheControl(value: string | readonly string[] | undefined): Directives {
  if (value === undefined) return NONE;
  const text = typeof value === 'string' ? value : value.join(',');
  if (text === '') return NONE;
  let noStore = false, noCache = false, priv = false, pub = false, mustRevalidate = false;
  let maxAge: number | null = null, sMaxAge: number | null = null;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    const arg = eq === -1 ? '' : part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    switch (name) {
      case 'no-store': noStore = true; break;
      case 'no-cache': noCache = true; break;
      case 'private': priv = true; break;
      case 'public': pub = true; break;
      case 'must-revalidate': case 'proxy-revalidate': mustRevalidate = true; break;
      case 'max-age': maxAge = seconds(arg) ?? maxAge; break;
      case 's-maxage': sMaxAge = seconds(arg) ?? sMaxAge; break;
    }
  }
  return { noStore, noCache, private: priv, public: pub, mustRevalidate, maxAge, sMaxAge };
}

function seconds(arg: string): number | null {
  return /^[0-9]{1,10}$/.test(arg) ? Number(arg) : null;
}

export type RequestMode =
  /** Look up, coalesce, store. */
  | 'normal'
  /** The client wants a fresh answer (no-cache, max-age=0, Pragma: no-cache): skip the lookup, store the answer. */
  | 'revalidate'
  /** no-store: the cache stays out of this exchange entirely. */
  | 'bypass';

export function requestMode(headers: IncomingHttpHeaders): RequestMode {
  const cc = headers['cache-control'];
  if (cc === undefined) {
    // RFC 9111 §5.4: Pragma: no-cache counts only when Cache-Control is absent.
    const pragma = headers['pragma'];
    return typeof pragma === 'string' && /(^|,)\s*no-cache\s*(,|$)/i.test(pragma) ? 'revalidate' : 'normal';
  }
  const d = parseCacheControl(cc);
  if (d.noStore) return 'bypass';
  if (d.noCache || d.maxAge === 0) return 'revalidate';
  return 'normal';
}

/**
 * How long a response may be served (ms), or 0 when it must not be stored: only 2xx (not 206),
 * nothing the origin marked no-store, no-cache or private, nothing that sets a cookie or
 * varies on everything, and, for requests carrying credentials, only what the origin marked
 * shareable (RFC 9111 §3.5) unless the route keys on the credentials itself.
 */
export function storableFor(status: number, headers: readonly string[], ttl: number, authorized: boolean): number {
  if (status < 200 || status > 299 || status === 206) return 0;
  let cc: string | null = null;
  let age = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    if (name === 'cache-control') cc = cc === null ? value : `${cc},${value}`;
    else if (name === 'set-cookie') return 0;
    else if (name === 'vary' && value.split(',').some((v) => v.trim() === '*')) return 0;
    else if (name === 'age') age = seconds(value.trim()) ?? 0;
  }
  const d = cc === null ? NONE : parseCacheControl(cc);
  if (d.noStore || d.noCache || d.private) return 0;
  if (authorized && !d.public && !d.mustRevalidate && d.sMaxAge === null) return 0;
  const origin = d.sMaxAge ?? d.maxAge;
  const lifetime = origin === null ? ttl : Math.min(ttl, (origin - age) * 1000);
  return lifetime > 0 ? lifetime : 0;
}

/**
 * Whether waiters coalesced on a request may get a copy of its answer when it is not stored:
 * never what the origin marked private or no-store, set a cookie in, or answered to a request
 * with credentials (each waiter may carry other ones).
 */
export function shareable(headers: readonly string[], authorized: boolean): boolean {
  if (authorized) return false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    if (name === 'set-cookie') return false;
    if (name === 'cache-control') {
      const d = parseCacheControl(headers[i + 1]!);
      if (d.noStore || d.private) return false;
    }
  }
  return true;
}

/** [name, request value] for each request header the response's Vary names beyond those already keyed. */
export function responseVaries(headers: readonly string[], request: IncomingHttpHeaders, keyed: readonly string[]): [string, string | null][] {
  const out: [string, string | null][] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== 'vary') continue;
    for (const part of headers[i + 1]!.split(',')) {
      const name = part.trim().toLowerCase();
      if (name === '' || name === '*' || keyed.includes(name) || out.some(([n]) => n === name)) continue;
      const v = request[name];
      out.push([name, v === undefined ? null : typeof v === 'string' ? v : v.join(', ')]);
    }
  }
  return out;
}
