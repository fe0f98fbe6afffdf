// Endpoint picking within one backend's live endpoint set (runtime replicas or upstream hosts).
//
// `p2c-ewma` (the default): the power of two choices over a peak-EWMA cost, as Finagle and
// Linkerd (tower's PeakEwma) do. Two distinct endpoints are drawn at random and the cheaper one
// wins; cost = latency estimate × (requests in flight + 1). The estimate is peak-sensitive: a
// sample above it replaces it at once, and it decays exponentially (τ = 10 s) otherwise, so a
// slowed endpoint is left alone at once and, having lost every contest, is tried again once its
// decayed estimate meets the others'. `round-robin` is kept for comparison (route `balance`).
//
// Endpoints taken out by outlier ejection (`ejected`) are never picked, unless every endpoint is
// ejected: serving from one beats refusing everything.
import type { Endpoint } from '../runtime/types.ts';

export type BalanceMode = 'p2c-ewma' | 'round-robin';

/** Finagle's and Linkerd's decay time constant. */
export const DEFAULT_DECAY_MS = 10_000;

// The estimate every endpoint starts from while none of its backend has answered yet: all are
// equal then, so only the in-flight counts decide.
const UNKNOWN_ESTIMATE_MS = 1;

export class EndpointStats {
  /** Latency estimate (ms) as of the last sample: a decaying peak. See estimate() for its value now. */
  ewmaMs = 0;
  inFlight = 0;
  requests = 0;
  failures = 0;
  /** Whether any attempt has completed since the endpoint (at its current origin) was first seen. */
  observed = false;
  /** The origin measured; a replica restarted on a new port starts neutral again. */
  origin: string | null = null;
  private last = 0;
  private readonly decayMs: number;

  constructor(decayMs = DEFAULT_DECAY_MS) {
    this.decayMs = decayMs;
  }

  /**
   * One completed attempt: `ms` to response headers (or to the error). Samples only ever raise
   * the estimate (time lowers it), so an endpoint that fails fast cannot look fast and draw more
   * traffic (the "black hole" of least-loaded balancing); steering away from failures is
   * outlier ejection's job.
   */
  observe(ms: number, ok: boolean, now: number): void {
    this.requests++;
    if (!ok) this.failures++;
    this.ewmaMs = Math.max(ms, this.estimate(now));
    this.last = now;
    this.observed = true;
  }

  /** The estimate now: the last peak decayed toward zero for the time since (tower's `decay`). */
  estimate(now: number): number {
    if (!this.observed) return 0;
    const idle = now - this.last;
    return idle <= 0 ? this.ewmaMs : this.ewmaMs * Math.exp(-idle / this.decayMs);
  }

  /** Forgets the measurements (not the in-flight count): the endpoint is new again. */
  reset(origin: string): void {
    this.origin = origin;
    this.ewmaMs = 0;
    this.observed = false;
    this.last = 0;
  }
}

export class EndpointPicker {
  private next = 0;
  readonly stats = new Map<string, EndpointStats>();
  /** Endpoint ids taken out of rotation by outlier ejection; never all of them (see pick). */
  readonly ejected = new Set<string>();
  private readonly decayMs: number;

  constructor(decayMs = DEFAULT_DECAY_MS) {
    this.decayMs = decayMs;
  }

  pick(endpoints: readonly Endpoint[], mode: BalanceMode = 'p2c-ewma', now = performance.now()): Endpoint | null {
    const n = endpoints.length;
    if (n === 0) return null;
    if (n === 1) return endpoints[0]!;
    return mode === 'round-robin' ? this.roundRobin(endpoints) : this.p2c(endpoints, now);
  }

  private roundRobin(endpoints: readonly Endpoint[]): Endpoint {
    const n = endpoints.length;
    for (let tries = 0; tries < n; tries++) {
      if (this.next >= n) this.next = 0;
      const e = endpoints[this.next++]!;
      if (this.ejected.size === 0 || !this.ejected.has(e.id)) return e;
    }
    // Every endpoint is ejected: serving from one beats refusing everything.
    if (this.next >= n) this.next = 0;
    return endpoints[this.next++]!;
  }

  private p2c(endpoints: readonly Endpoint[], now: number): Endpoint {
    let pool = endpoints;
    if (this.ejected.size > 0) {
      const kept = endpoints.filter((e) => !this.ejected.has(e.id));
      if (kept.length > 0) pool = kept;
    }
    const n = pool.length;
    if (n === 1) return pool[0]!;
    const i = Math.floor(Math.random() * n);
    let j = Math.floor(Math.random() * (n - 1));
    if (j >= i) j++;
    const a = pool[i]!;
    const b = pool[j]!;
    const sa = this.current(a);
    const sb = this.current(b);
    let ea = sa.estimate(now);
    let eb = sb.estimate(now);
    if (!sa.observed || !sb.observed) {
      // A new endpoint starts at the median of its peers: neither shunned nor flooded, it is
      // warmed into rotation as its own answers come in (its in-flight count still counts).
      const neutral = this.neutralEstimate(pool, now);
      if (!sa.observed) ea = neutral;
      if (!sb.observed) eb = neutral;
    }
    return ea * (sa.inFlight + 1) <= eb * (sb.inFlight + 1) ? a : b;
  }

  private neutralEstimate(pool: readonly Endpoint[], now: number): number {
    const seen: number[] = [];
    for (const e of pool) {
      const s = this.stats.get(e.id);
      if (s !== undefined && s.observed && (s.origin === null || s.origin === e.origin)) seen.push(s.estimate(now));
    }
    if (seen.length === 0) return UNKNOWN_ESTIMATE_MS;
    seen.sort((x, y) => x - y);
    const mid = seen.length >> 1;
    return seen.length % 2 === 1 ? seen[mid]! : (seen[mid - 1]! + seen[mid]!) / 2;
  }

  /** The endpoint's stats, reset when it came back at another origin (a restarted replica). */
  private current(e: Endpoint): EndpointStats {
    const s = this.statsFor(e.id);
    if (s.origin === null) s.origin = e.origin;
    else if (s.origin !== e.origin) s.reset(e.origin);
    return s;
  }

  statsFor(id: string): EndpointStats {
    let s = this.stats.get(id);
    if (s === undefined) {
      s = new EndpointStats(this.decayMs);
      this.stats.set(id, s);
    }
    return s;
  }
}

/** One picker per backend name, kept across config reloads so estimates survive them. */
export class Balancers {
  private readonly pickers = new Map<string, EndpointPicker>();
  private readonly decayMs: number;

  constructor(opts: { decayMs?: number } = {}) {
    this.decayMs = opts.decayMs ?? DEFAULT_DECAY_MS;
  }

  for(backend: string): EndpointPicker {
    let p = this.pickers.get(backend);
    if (p === undefined) {
      p = new EndpointPicker(this.decayMs);
      this.pickers.set(backend, p);
    }
    return p;
  }
}
