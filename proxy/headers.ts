// Header handling for a forwarding proxy.
// Hop-by-hop headers (RFC 9110 §7.6.1) are connection-scoped and never forwarded, in either
// direction, nor are headers that the Connection header itself names.

const HOP_BY_HOP = new Set([
  'connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'trailer',
]);

/** Names listed in a Connection header value, lower-cased. */
function connectionListed(value: string | string[] | undefined): Set<string> | null {
  if (value === undefined) return null;
  const text = Array.isArray(value) ? value.join(',') : value;
  let set: Set<string> | null = null;
  for (const part of text.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive') continue;
    (set ??= new Set()).add(name);
  }
  return set;
}

export interface ForwardedInfo {
  readonly clientIp: string;
  readonly proto: 'http' | 'https';
}

/**
 * The upstream request's headers as a flat [name, value, ...] list (undici takes it as is).
 * `drop` holds lower-case names the proxy sets itself (request id, deadline, trace context).
 */
export function upstreamRequestHeaders(
  raw: readonly string[],
  connection: string | string[] | undefined,
  drop: ReadonlySet<string>,
  fwd: ForwardedInfo,
): string[] {
  const listed = connectionListed(connection);
  const out: string[] = [];
  let xff: string | null = null;
  let xfp: string | null = null;
  let xfh: string | null = null;
  let via: string | null = null;
  let host: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const value = raw[i + 1]!;
    if (HOP_BY_HOP.has(lower) || drop.has(lower) || (listed !== null && listed.has(lower))) continue;
    switch (lower) {
      case 'host': host = value; continue;   // undici sets Host from the upstream origin
      case 'x-forwarded-for': xff = xff === null ? value : `${xff}, ${value}`; continue;
      case 'x-forwarded-proto': xfp = xfp === null ? value : `${xfp}, ${value}`; continue;
      case 'x-forwarded-host': xfh = xfh === null ? value : `${xfh}, ${value}`; continue;
      case 'via': via = via === null ? value : `${via}, ${value}`; continue;
    }
    out.push(name, value);
  }
  out.push(
    'x-forwarded-for', xff === null ? fwd.clientIp : `${xff}, ${fwd.clientIp}`,
    'x-forwarded-proto', xfp === null ? fwd.proto : `${xfp}, ${fwd.proto}`,
    'via', via === null ? '1.1 outrider' : `${via}, 1.1 outrider`,
  );
  if (host !== null) out.push('x-forwarded-host', xfh === null ? host : `${xfh}, ${host}`);
  else if (xfh !== null) out.push('x-forwarded-host', xfh);
  return out;
}

/**
 * The client response's headers from an upstream response (undici's lower-cased object), as a
 * flat list for writeHead. Hop-by-hop headers are dropped; `via` is appended.
 */
export function downstreamResponseHeaders(headers: Record<string, string | string[] | undefined>, drop: ReadonlySet<string>): string[] {
  const listed = connectionListed(headers['connection']);
  const out: string[] = [];
  let via: string | null = null;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || drop.has(name) || (listed !== null && listed.has(name))) continue;
    if (name === 'via') { via = Array.isArray(value) ? value.join(', ') : value; continue; }
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  out.push('via', via === null ? '1.1 outrider' : `${via}, 1.1 outrider`);
  return out;
}
