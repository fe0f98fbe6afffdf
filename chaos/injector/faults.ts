// The faults the injector can put between Outrider and an upstream, as set over its control
// API (`PUT /fault` with one of these as JSON). Every fault applies to a share of the traffic:
// `probability` (0-1) drawn per request, or per connection (`per: "connection"`: a connection
// drawn faulty stays faulty until the fault is changed).

export type Malformation =
  | 'status-line'     // a garbage status line: no valid response head at all
  | 'chunked'         // a valid head, then chunk sizes that are not hex
  | 'length-short'    // content-length larger than the body sent, then the connection closes
  | 'length-long';    // content-length smaller than the bytes sent: the rest poisons the connection

export type ResetPoint =
  | 'before-head'     // read the request, answer nothing, RST
  | 'mid-body';       // the upstream's head and part of its body, then RST

export type FaultMode =
  | { readonly mode: 'pass' }
  | { readonly mode: 'latency'; readonly ms: number; readonly jitterMs: number }
  | { readonly mode: 'stall' }
  | { readonly mode: 'reset'; readonly at: ResetPoint }
  | { readonly mode: 'malformed'; readonly kind: Malformation }
  | { readonly mode: 'status'; readonly status: number }
  | { readonly mode: 'drop' };

export type Fault = FaultMode & {
  readonly probability: number;
  readonly per: 'request' | 'connection';
};

export const PASS: Fault = Object.freeze({ mode: 'pass', probability: 1, per: 'request' });

/** A short stable label for stats and the x-chaos-fault header. */
export function faultLabel(f: FaultMode): string {
  switch (f.mode) {
    case 'reset': return `reset-${f.at}`;
    case 'malformed': return `malformed-${f.kind}`;
    case 'status': return `status-${f.status}`;
    default: return f.mode;
  }
}

const MALFORMATIONS: readonly Malformation[] = ['status-line', 'chunked', 'length-short', 'length-long'];
const RESET_POINTS: readonly ResetPoint[] = ['before-head', 'mid-body'];

/** Checks a control-API body; returns the fault or a message saying what is wrong. */
export function parseFault(input: unknown): Fault | string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return 'the fault must be a JSON object';
  const o = input as Record<string, unknown>;
  const probability = o['probability'] ?? 1;
  if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1)) return 'probability must be a number from 0 to 1';
  const per = o['per'] ?? 'request';
  if (per !== 'request' && per !== 'connection') return 'per must be "request" or "connection"';
  const common = { probability, per } as const;
  const allowed = new Set(['mode', 'probability', 'per']);
  let fault: Fault;
  switch (o['mode']) {
    case 'pass':
    case 'stall':
    case 'drop':
      fault = { mode: o['mode'], ...common };
      break;
    case 'latency': {
      const ms = o['ms'];
      const jitterMs = o['jitterMs'] ?? 0;
      if (typeof ms !== 'number' || !(ms >= 0)) return 'latency needs ms, a number >= 0';
      if (typeof jitterMs !== 'number' || !(jitterMs >= 0)) return 'jitterMs must be a number >= 0';
      fault = { mode: 'latency', ms, jitterMs, ...common };
      allowed.add('ms').add('jitterMs');
      break;
    }
    case 'reset': {
      const at = o['at'];
      if (!RESET_POINTS.includes(at as ResetPoint)) return `reset needs at: one of ${RESET_POINTS.join(', ')}`;
      fault = { mode: 'reset', at: at as ResetPoint, ...common };
      allowed.add('at');
      break;
    }
    case 'malformed': {
      const kind = o['kind'];
      if (!MALFORMATIONS.includes(kind as Malformation)) return `malformed needs kind: one of ${MALFORMATIONS.join(', ')}`;
      fault = { mode: 'malformed', kind: kind as Malformation, ...common };
      allowed.add('kind');
      break;
    }
    case 'status': {
      const status = o['status'];
      if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return 'status needs status, an HTTP status code';
      fault = { mode: 'status', status, ...common };
      allowed.add('status');
      break;
    }
    default:
      return 'mode must be one of pass, latency, stall, reset, malformed, status, drop';
  }
  const unknown = Object.keys(o).filter((k) => !allowed.has(k));
  if (unknown.length > 0) return `unknown key(s) for mode ${fault.mode}: ${unknown.join(', ')}`;
  return fault;
}
