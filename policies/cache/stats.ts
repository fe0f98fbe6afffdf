// Per-route cache counters for /routes (hit ratio) and the result events telemetry turns into
// outrider_cache_requests_total{route,result}. Kept across reloads with the route.
import type { PolicyEvents } from '../../proxy/events.ts';

/** `bypass`: the cache stayed out (method, Cache-Control: no-store); the header still says miss. */
export type CacheResult = 'hit' | 'miss' | 'coalesced' | 'stale' | 'partial' | 'bypass';

/** Emitted as (route, result) per request of a cached route: positional, no object per request. */
export const RESULT_EVENT = 'cache.result';

const RESULTS: readonly CacheResult[] = ['hit', 'miss', 'coalesced', 'stale', 'partial', 'bypass'];

export class CacheStats {
  private readonly route: string;
  private readonly events: PolicyEvents;
  private readonly counts: Record<CacheResult, number> = { hit: 0, miss: 0, coalesced: 0, stale: 0, partial: 0, bypass: 0 };

  constructor(route: string, events: PolicyEvents) {
    this.route = route;
    this.events = events;
  }

  record(result: CacheResult): void {
    this.counts[result]++;
    this.events.emit(RESULT_EVENT, this.route, result);
  }

  /** Counts and the share of requests answered without computing anything (hits and coalesced waiters). */
  report(): Record<string, unknown> {
    let total = 0;
    for (const r of RESULTS) total += this.counts[r];
    const served = this.counts.hit + this.counts.coalesced;
    return { requests: total, ...this.counts, hitRatio: total === 0 ? null : Math.round((served / total) * 10_000) / 10_000 };
  }
}
