// Canonical JSON for cache keys: the same document written with other whitespace or another
// key order gives the same text (object keys sorted by code unit, numbers as JavaScript
// writes them, so 1.0 and 1 agree). Arrays keep their order: it is meaningful.

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    // Tensors are long arrays of numbers: one stringify for a flat array of scalars.
    if (flat(value)) return JSON.stringify(value);
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v);
    first = false;
  }
  return out + '}';
}

function flat(a: readonly unknown[]): boolean {
  for (const v of a) if (v !== null && typeof v === 'object') return false;
  return true;
}

/** Whether the body is meant as JSON: a JSON media type (or none) and an object or array. */
export function looksLikeJson(body: Buffer, contentType: string | undefined): boolean {
  if (body.length === 0) return false;
  if (contentType !== undefined && !/[/+]json\b/i.test(contentType)) return false;
  let i = 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++;
  const c = body[i];
  return c === 0x7b /* { */ || c === 0x5b /* [ */;
}

/** The parsed body when it is JSON (by content type, or untyped and shaped like JSON), else undefined. */
export function parseJsonBody(body: Buffer, contentType: string | undefined): unknown {
  if (!looksLikeJson(body, contentType)) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
