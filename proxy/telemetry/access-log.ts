// The access-log line (SPEC §6 JSON access logs): one fixed set of fields per request, written
// as the same JSON line pino would write (`level`, `time`, `svc`, the fields, `msg`) straight
// into the logger's line batch. pino's generic serialiser walks the object, escapes every key
// and value and concatenates ~20 intermediate strings: profiled at ~3 KB of garbage and ~6 µs
// per line under load, the largest single cost Outrider added over a bare forwarder. Here the
// keys are constants and only values that may need escaping (the client's path) go through
// JSON.stringify.

/** What one answered request logs; undefined fields are left out, as pino leaves them out. */
export interface AccessEntry {
  readonly requestId: string;
  readonly route: string;
  readonly backend: string;
  readonly endpoint: string | null;
  readonly method: string | undefined;
  readonly path: string;
  readonly status: number;
  readonly code: string | undefined;
  readonly detail: string | undefined;
  readonly cache: string | undefined;
  readonly degraded: string | undefined;
  readonly attempts: number | undefined;
  readonly durationMs: number;
  readonly headMs: number | undefined;
  readonly upstreamMs: number | undefined;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly traceId: string | undefined;
}

// Printable ASCII without `"` and `\`: such a string is its own JSON text between quotes.
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function str(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** pino's info level (30), `svc` base and epoch-millisecond `time`, so every line of stdout reads alike. */
export function accessLine(e: AccessEntry, now = Date.now()): string {
  let line = `{"level":30,"time":${now},"svc":"outrider","requestId":${str(e.requestId)},"route":${str(e.route)},"backend":${str(e.backend)}`;
  // pino writes a null value as null and drops an undefined one.
  line += e.endpoint === null ? ',"endpoint":null' : `,"endpoint":${str(e.endpoint)}`;
  if (e.method !== undefined) line += `,"method":${str(e.method)}`;
  line += `,"path":${str(e.path)},"status":${e.status}`;
  if (e.code !== undefined) line += `,"code":${str(e.code)}`;
  if (e.detail !== undefined) line += `,"detail":${str(e.detail)}`;
  if (e.cache !== undefined) line += `,"cache":${str(e.cache)}`;
  if (e.degraded !== undefined) line += `,"degraded":${str(e.degraded)}`;
  if (e.attempts !== undefined) line += `,"attempts":${e.attempts}`;
  line += `,"durationMs":${num(e.durationMs)}`;
  if (e.headMs !== undefined) line += `,"headMs":${num(e.headMs)}`;
  if (e.upstreamMs !== undefined) line += `,"upstreamMs":${num(e.upstreamMs)}`;
  line += `,"bytesIn":${num(e.bytesIn)},"bytesOut":${num(e.bytesOut)}`;
  if (e.traceId !== undefined) line += `,"traceId":${str(e.traceId)}`;
  return `${line},"msg":"request"}\n`;
}

/**
 * The number as JSON.stringify writes it (JSON has no NaN or Infinity: null). The durations are
 * rounded to the microsecond (server.ts): those are printed from integers, since turning a
 * double into its shortest decimal was ~1.5% of the proxy's CPU under load.
 */
function num(n: number): string {
  const micros = Math.round(n * 1000);
  if (micros >= 0 && micros < 1e12 && micros / 1000 === n) {
    const whole = Math.floor(micros / 1000);
    let frac = micros - whole * 1000;
    if (frac === 0) return String(whole);
    // Three digits without the trailing zeros, as the shortest decimal has them.
    let digits = 3;
    while (frac % 10 === 0) {
      frac /= 10;
      digits--;
    }
    const f = String(frac);
    return `${whole}.${f.length < digits ? '0'.repeat(digits - f.length) + f : f}`;
  }
  return Number.isFinite(n) ? String(n) : 'null';
}
