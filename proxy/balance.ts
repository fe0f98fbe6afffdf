// Endpoint picking within one backend's live endpoint set. Round-robin over the ready
// endpoints; a per-endpoint latency EWMA is kept for /routes (and for latency-aware picking).
import type { Endpoint } from '../runtime/types.ts';

const EWMA_DECAY_MS = 10_000;

export class EndpointStats {
  ewmaMs = 0;
  inFlight = 0;
  requests = 0;
  failures = 0;
  private last = 0;

  observe(ms: number, ok: boolean, now: number): void {
    this.requests++;
    if (!ok) this.failures++;
    if (this.last === 0) this.ewmaMs = ms;
    else {
      // Time-weighted decay: an endpoint's estimate follows its recent latency whatever the rate.
      const w = Math.exp(-(now - this.last) / EWMA_DECAY_MS);
      this.ewmaMs = this.ewmaMs * w + ms * (1 - w);
    }
    this.last = now;
  }
}

export class EndpointPicker {
  private next = 0;
  readonly stats = new Map<string, EndpointStats>();
  /** Endpoint ids taken out of rotation by outlier ejection; never all of them (see pick). */
  readonly ejected = new Set<string>();

  pick(endpoints: readonly Endpoint[]): Endpoint | null {
    const n = endpoints.length;
    if (n === 0) return null;
    for (let tries = 0; tries < n; tries++) {
      if (this.next >= n) this.next = 0;
      const e = endpoints[this.next++]!;
      if (this.ejected.size === 0 || !this.ejected.has(e.id)) return e;
    }
    // Every endpoint is ejected: serving from one beats refusing everything.
    if (this.next >= n) this.next = 0;
    return endpoints[this.next++]!;
  }

  statsFor(id: string): EndpointStats {
    let s = this.stats.get(id);
    if (s === undefined) {
      s = new EndpointStats();
      this.stats.set(id, s);
    }
    return s;
  }
}

/** One picker per backend name, kept across config reloads so estimates survive them. */
export class Balancers {
  private readonly pickers = new Map<string, EndpointPicker>();

  for(backend: string): EndpointPicker {
    let p = this.pickers.get(backend);
    if (p === undefined) {
      p = new EndpointPicker();
      this.pickers.set(backend, p);
    }
    return p;
  }
}
