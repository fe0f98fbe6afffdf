// JSON Schema validation of the whole file with ajv, against outrider.schema.json: the same
// file editors use, so the two can never disagree. ajv fills the schema's `default`s into
// the data (useDefaults), which makes the schema the one place defaults are written; the
// few defaults that depend on other keys are filled by the normaliser and described in
// the schema's text. ajv's raw messages are turned into ones a person can act on.

import { Ajv } from 'ajv';
import type { ErrorObject } from 'ajv';
import schema from './outrider.schema.json' with { type: 'json' };
import { closest } from './did-you-mean.ts';
import type { Report } from './report.ts';
import type { Segment } from './source.ts';

type SchemaObject = Record<string, unknown>;
const defs = schema.definitions as Record<string, SchemaObject>;

const ajv = new Ajv({ allErrors: true, verbose: true, useDefaults: true, allowUnionTypes: true, strict: true });
const validate = ajv.compile(schema);

// One message for every way a value can miss these formats (wrong type, pattern, range).
const FORMAT_HINTS = new Map<unknown, string>();
function hint(node: unknown, message: string): void {
  if (typeof node !== 'object' || node === null) return;
  FORMAT_HINTS.set(node, message);
  for (const child of Object.values(node)) hint(child, message);
}
hint(defs.duration, 'expected a duration such as "250ms" or "2s"');
hint(defs.size, 'expected a size such as "512KiB", "64MiB" or a byte count');
hint(defs.percent, 'expected a percentage from 0 to 100');
hint(defs.name, 'expected a name of letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63 characters');
hint(defs.listenAddress, 'expected "host:port", "[ipv6]:port" or "unix:/path"');
hint(defs.httpPath, 'expected a path starting with "/"');
hint(defs.headerName, 'expected an HTTP header name (letters, digits and !#$%&\'*+.^_`|~-)');
hint(defs.method, 'expected an HTTP method such as GET or POST');
hint(defs.device, 'expected `cpu`, `cuda` or `cuda:N`');
hint(defs.headerMatchValue, 'expected a string (the exact value) or `true` (present with any value)');
hint(defs.retryCondition, 'expected `connect`, `reset`, `timeout` or an HTTP status from 500 to 599 (a 4xx is the client\'s own error and is never retried)');
hint(sub(defs.processRuntime, 'properties', 'env', 'propertyNames'), 'expected an environment variable name (letters, digits and _, not starting with a digit)');
hint(sub(defs.upstream, 'properties', 'endpoints', 'items'), 'expected an http:// or https:// origin such as "http://10.0.0.7:8000"');
hint(sub(schema, 'properties', 'cache', 'properties', 'redis', 'properties', 'url'), 'expected a redis:// or rediss:// URL');
// Only the step itself: its keys have messages of their own.
FORMAT_HINTS.set(defs.fallbackStep, 'a fallback step is exactly one of `cache: stale`, `to: NAME` or `static: {status, json | body, headers}`');

function sub(node: unknown, ...keys: string[]): unknown {
  return keys.reduce<unknown>((n, k) => (n as Record<string, unknown> | undefined)?.[k], node);
}

/** Validates `data` (filling defaults into it) and reports every schema error. */
export function validateSchema(data: unknown, report: Report): void {
  if (validate(data)) return;
  for (const e of validate.errors ?? []) {
    // `if` only says a `then` failed, and `propertyNames` only says an inner check on a key
    // failed: the inner errors are reported by themselves.
    if (e.keyword === 'if' || e.keyword === 'propertyNames') continue;
    const path = toPath(data, e.instancePath);
    if (e.propertyName !== undefined) {
      report.add('schema', [...path, e.propertyName], `${FORMAT_HINTS.get(e.parentSchema) ?? 'invalid key'}, got ${show(e.propertyName)}`, 'key');
    } else if (e.keyword === 'additionalProperties') {
      const key = String(e.params.additionalProperty);
      report.add('schema', [...path, key], unknownKey(key, e.parentSchema), 'key');
    } else if (e.keyword === 'required') {
      report.add('schema', [...path, String(e.params.missingProperty)], `missing required key \`${e.params.missingProperty}\``);
    } else {
      report.add('schema', path, describeError(e));
    }
  }
}

function unknownKey(key: string, parent: unknown): string {
  const known = Object.keys(((parent as SchemaObject | undefined)?.properties ?? {}) as SchemaObject);
  for (const [kind, def] of [['onnx', defs.onnxRuntime], ['process', defs.processRuntime]] as const) {
    if (parent !== def && Object.hasOwn(def?.properties ?? {}, key) && known.includes('kind')) {
      return `unknown key \`${key}\`: it belongs to \`kind: ${kind}\` runtimes`;
    }
  }
  const near = closest(key, known);
  if (near !== undefined) return `unknown key \`${key}\`; did you mean \`${near}\`?`;
  return `unknown key \`${key}\`; known keys: ${known.map(code).join(', ')}`;
}

function describeError(e: ErrorObject): string {
  const hinted = FORMAT_HINTS.get(e.parentSchema);
  if (hinted !== undefined) return `${hinted}, got ${show(e.data)}`;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type': {
      const expected = ([] as string[]).concat(p.type as string | string[]);
      const got = kindOf(e.data);
      if (got === 'number' && expected.includes('integer') && !expected.includes('number')) return `expected an integer, got ${String(e.data)}`;
      const quote = expected.includes('string') && (got === 'number' || got === 'boolean') ? ` (write it in quotes: "${String(e.data)}")` : '';
      return `expected ${expected.map(withArticle).join(' or ')}, got ${got}${quote}`;
    }
    case 'enum': {
      const allowed = p.allowedValues as unknown[];
      const near = typeof e.data === 'string' ? closest(e.data, allowed.map(String)) : undefined;
      return `expected one of ${allowed.map(code).join(', ')}, got ${show(e.data)}${near === undefined ? '' : `; did you mean \`${near}\`?`}`;
    }
    case 'const':
      if (e.instancePath === '/version') {
        return e.data === '1' ? 'expected the number 1, got the string "1": write `version: 1` without quotes' : `unsupported version ${show(e.data)}: this Outrider reads version 1`;
      }
      return `expected ${code(p.allowedValue)}, got ${show(e.data)}`;
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return `expected a number ${String(p.comparison)} ${String(p.limit)}, got ${show(e.data)}`;
    case 'minItems':
      return p.limit === 1 ? 'expected a non-empty list' : `expected at least ${String(p.limit)} items`;
    case 'minLength':
      return p.limit === 1 ? 'expected a non-empty string' : `expected at least ${String(p.limit)} characters`;
    case 'pattern':
      return `expected a string matching ${String(p.pattern)}, got ${show(e.data)}`;
    default:
      return e.message ?? `invalid value (${e.keyword})`;
  }
}

/** A JSON pointer from ajv, as path segments: array indexes become numbers. */
function toPath(data: unknown, pointer: string): Segment[] {
  const path: Segment[] = [];
  let node = data;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    const seg: Segment = Array.isArray(node) ? Number(key) : key;
    path.push(seg);
    node = typeof node === 'object' && node !== null ? (node as Record<string | number, unknown>)[seg] : undefined;
  }
  return path;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function code(value: unknown): string {
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

/** A short rendering of a value for messages. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a mapping';
  return String(value);
}
