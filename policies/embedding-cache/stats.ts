// Per-route embedding-cache counters for /routes, and the per-item events telemetry counts.
import type { PolicyEvents } from '../../proxy/events.ts';
import type { CacheStats } from '../cache/stats.ts';

/** Emitted as (route, hits, misses) per request: items served from the cache and items computed. */
export const ITEMS_EVENT = 'cache.items';

export class ItemStats {
  private readonly route: string;
  private readonly events: PolicyEvents;
  readonly requests: CacheStats;
  private hits = 0;
  private misses = 0;

  constructor(route: string, events: PolicyEvents, requests: CacheStats) {
    this.route = route;
    this.events = events;
    this.requests = requests;
  }

  items(hits: number, misses: number): void {
    this.hits += hits;
    this.misses += misses;
    this.events.emit(ITEMS_EVENT, this.route, hits, misses);
  }

  report(): Record<string, unknown> {
    const total = this.hits + this.misses;
    return {
      ...this.requests.report(),
      itemHits: this.hits,
      itemMisses: this.misses,
      itemHitRatio: total === 0 ? null : Math.round((this.hits / total) * 10_000) / 10_000,
    };
  }
}
