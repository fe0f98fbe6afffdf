// Cache metrics (SPEC §6): outrider_cache_requests_total{route,result} from the policies'
// result events, outrider_cache_bytes read from the store in use when scraped, and, beyond
// the SPEC, entries held and per-item results of the embedding cache.
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { PolicyEvents } from '../events.ts';
import type { CacheStore } from '../cache/store.ts';
import { STORE_EVENT } from '../cache/shared.ts';
import { ITEMS_EVENT } from '../../policies/embedding-cache/stats.ts';
import { RESULT_EVENT } from '../../policies/cache/stats.ts';
import { counterChildren } from './children.ts';
import { FastCounter } from './series.ts';

export function attachCache(registry: Registry, events: PolicyEvents): void {
  let store: CacheStore | null = null;
  events.on(STORE_EVENT, (s: CacheStore) => { store = s; });
  new Gauge({
    name: 'outrider_cache_bytes', help: 'Bytes held by the response and embedding caches in this process (bounded by cache.maxBytes).',
    registers: [registry],
    collect() { this.set(store?.bytes ?? 0); },
  });
  new Gauge({
    name: 'outrider_cache_entries', help: 'Entries held by the caches in this process.',
    registers: [registry],
    collect() { this.set(store?.entries ?? 0); },
  });
  // Counted on every request of a cached route, a hit included: series.ts's counter, its
  // children found by route, then result (pair()), without joining the label values.
  const requests = new FastCounter({
    name: 'outrider_cache_requests_total', help: 'Requests of cached routes, by result (hit, miss, coalesced, stale, partial, bypass).',
    labelNames: ['route', 'result'] as const, registers: [registry],
  });
  const items = new Counter({
    name: 'outrider_embedding_cache_items_total', help: 'Embedding inputs (or KServe rows) of embedding-cached routes, by result (hit, miss).',
    labelNames: ['route', 'result'] as const, registers: [registry],
  });
  const item = counterChildren(items);
  events.on(RESULT_EVENT, (route: string, result: string) => { requests.pair(route, result).value++; });
  events.on(ITEMS_EVENT, (route: string, hits: number, misses: number) => {
    if (hits > 0) item(route, 'hit').inc(hits);
    if (misses > 0) item(route, 'miss').inc(misses);
  });
}
