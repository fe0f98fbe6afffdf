// Metrics of the resilience policies (retry, breaker, outlier ejection, fallback, shedding),
// from their events. SPEC §6 names: outrider_retries_total{route}, outrider_breaker_state{backend},
// outrider_shed_total{reason} (registered by metrics.ts, shared with the edge's max_in_flight),
// outrider_fallback_total{route,kind}; the others are Outrider's additions (docs/resilience.md).
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { PolicyEvents } from '../events.ts';
import { BREAKER_DISPOSED, BREAKER_REJECTED, BREAKER_STATE, BREAKER_STATE_VALUE } from '../../policies/breaker/events.ts';
import type { BreakerDisposedEvent, BreakerRejectedEvent, BreakerStateEvent } from '../../policies/breaker/events.ts';
import { FALLBACK } from '../../policies/fallback/events.ts';
import type { FallbackEvent } from '../../policies/fallback/events.ts';
import { OUTLIER_EJECTED, OUTLIER_RETURNED } from '../../policies/outlier/events.ts';
import type { OutlierEjectedEvent, OutlierReturnedEvent } from '../../policies/outlier/events.ts';
import { RETRY, RETRY_SKIPPED } from '../../policies/retry/events.ts';
import type { RetryEvent, RetrySkippedEvent } from '../../policies/retry/events.ts';
import { SHED } from '../../policies/shed/events.ts';
import type { ShedEvent } from '../../policies/shed/events.ts';
import { counterChildren } from './children.ts';

export function attachResilience(registry: Registry, events: PolicyEvents): void {
  const registers = [registry];
  const retries = new Counter({
    name: 'outrider_retries_total', help: 'Retries sent, by route.', labelNames: ['route'] as const, registers,
  });
  const skipped = new Counter({
    name: 'outrider_retries_skipped_total', help: 'Retriable failures not retried, by route and reason (budget: the retry budget was spent; deadline: too little time left).',
    labelNames: ['route', 'reason'] as const, registers,
  });
  const backendState = new Gauge({
    name: 'outrider_breaker_state', help: 'Circuit breaker state of a backend (0 closed, 1 half-open, 2 open): the worst over the routes whose breakers guard it.',
    labelNames: ['backend'] as const, registers,
  });
  const routeState = new Gauge({
    name: 'outrider_route_breaker_state', help: 'Circuit breaker state per route and backend (0 closed, 1 half-open, 2 open).',
    labelNames: ['route', 'backend'] as const, registers,
  });
  const rejected = new Counter({
    name: 'outrider_breaker_rejections_total', help: 'Requests refused by an open (or probing half-open) breaker, by route and backend.',
    labelNames: ['route', 'backend'] as const, registers,
  });
  const ejections = new Counter({
    name: 'outrider_outlier_ejections_total', help: 'Endpoints ejected by outlier detection, by backend.', labelNames: ['backend'] as const, registers,
  });
  const ejected = new Gauge({
    name: 'outrider_outlier_ejected_endpoints', help: 'Endpoints of a backend out of rotation now (outlier ejection).', labelNames: ['backend'] as const, registers,
  });
  const fallbacks = new Counter({
    name: 'outrider_fallback_total', help: 'Fallback ladder runs, by route and the rung that answered (stale-cache, fallback, static) or exhausted.',
    labelNames: ['route', 'kind'] as const, registers,
  });
  const shed = (registry.getSingleMetric('outrider_shed_total') as Counter<'reason'> | undefined) ?? new Counter({
    name: 'outrider_shed_total', help: 'Requests refused to protect the proxy or a backend, by reason.', labelNames: ['reason'] as const, registers,
  });

  // Retries and sheds can come thousands a second under load: their label children are kept.
  const retry = counterChildren(retries);
  events.on(RETRY, (e: RetryEvent) => retry(e.route).inc());
  events.on(RETRY_SKIPPED, (e: RetrySkippedEvent) => skipped.labels(e.route, e.reason).inc());
  const shedBy = counterChildren(shed);
  events.on(SHED, (e: ShedEvent) => shedBy(e.reason).inc());

  // backend -> route -> state value; the SPEC's per-backend gauge shows the worst of them.
  const states = new Map<string, Map<string, number>>();
  const showWorst = (backend: string) => {
    const byRoute = states.get(backend);
    if (byRoute === undefined || byRoute.size === 0) {
      states.delete(backend);
      backendState.remove(backend);
      return;
    }
    let worst = 0;
    for (const v of byRoute.values()) worst = Math.max(worst, v);
    backendState.labels(backend).set(worst);
  };
  events.on(BREAKER_STATE, (e: BreakerStateEvent) => {
    const value = BREAKER_STATE_VALUE[e.state];
    let byRoute = states.get(e.backend);
    if (byRoute === undefined) states.set(e.backend, byRoute = new Map());
    byRoute.set(e.route, value);
    routeState.labels(e.route, e.backend).set(value);
    showWorst(e.backend);
  });
  events.on(BREAKER_DISPOSED, (e: BreakerDisposedEvent) => {
    states.get(e.backend)?.delete(e.route);
    routeState.remove(e.route, e.backend);
    showWorst(e.backend);
  });
  events.on(BREAKER_REJECTED, (e: BreakerRejectedEvent) => rejected.labels(e.route, e.backend).inc());

  events.on(OUTLIER_EJECTED, (e: OutlierEjectedEvent) => {
    ejections.labels(e.backend).inc();
    ejected.labels(e.backend).inc();
  });
  events.on(OUTLIER_RETURNED, (e: OutlierReturnedEvent) => ejected.labels(e.backend).dec());

  events.on(FALLBACK, (e: FallbackEvent) => fallbacks.labels(e.route, e.kind).inc());
}
