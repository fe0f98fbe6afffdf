// Metrics and logs of traffic management (shadow mirroring, canary analysis), from their events.
// SPEC §6 names: outrider_shadow_requests_total{route,result}, outrider_shadow_divergence{route},
// outrider_canary_rollbacks_total{route}; outrider_canary_weight_percent{route,backend} is
// Outrider's addition (docs/traffic.md). Request ids go to log lines only, never to labels.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { PolicyEvents } from '../events.ts';
import type { Logger } from './log.ts';
import { SHADOW_EVENT } from '../../policies/shadow/index.ts';
import type { ShadowEvent } from '../../policies/shadow/index.ts';
import { CANARY_EVENT } from '../../policies/canary/index.ts';
import type { CanaryEvent } from '../../policies/canary/index.ts';
import { counterChildren } from './children.ts';

// Divergence is 0..1 for argmax, cosine and exact, and an absolute difference for max-abs-diff:
// fine steps near 0 (numerical noise) and coarse ones above.
const DIVERGENCE_BUCKETS = [0, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];

export function attachTraffic(registry: Registry, events: PolicyEvents, log?: Logger): void {
  const registers = [registry];
  const shadowRequests = new Counter({
    name: 'outrider_shadow_requests_total',
    help: 'Shadow copies by route and result: match or mismatch (compared), error (the shadow failed), dropped (too many in flight), skipped (nothing to compare: the primary failed or was not comparable).',
    labelNames: ['route', 'result'] as const, registers,
  });
  const divergence = new Histogram({
    name: 'outrider_shadow_divergence',
    help: 'How far the shadow answer is from the primary one per compared pair (0 = the same): 1 - argmax agreement, max |a-b|, 1 - cosine similarity, or 0/1 for exact.',
    labelNames: ['route'] as const, buckets: DIVERGENCE_BUCKETS, registers,
  });
  const rollbacks = new Counter({
    name: 'outrider_canary_rollbacks_total', help: 'Canaries rolled back to weight 0 by the analysis, by route.',
    labelNames: ['route'] as const, registers,
  });
  const weight = new Gauge({
    name: 'outrider_canary_weight_percent', help: 'Share of new requests the canary backend gets, as set by the analysis (rollback, promotion steps, reset).',
    labelNames: ['route', 'backend'] as const, registers,
  });

  // A shadow copy reports on every request: its label children are kept.
  const shadowResult = counterChildren(shadowRequests);
  events.on(SHADOW_EVENT, (e: ShadowEvent) => {
    shadowResult(e.route, e.result).inc();
    if (e.divergence !== null) divergence.labels(e.route).observe(e.divergence);
    if (e.result === 'mismatch') {
      log?.info({ requestId: e.requestId, route: e.route, shadow: e.backend, compare: e.compare, divergence: e.divergence, detail: e.detail }, 'shadow answer differs from the primary');
    } else if (e.result === 'error' && log?.isLevelEnabled('debug') === true) {
      log.debug({ requestId: e.requestId, route: e.route, shadow: e.backend, detail: e.detail }, 'shadow request failed');
    }
  });
  events.on(CANARY_EVENT, (e: CanaryEvent) => {
    weight.labels(e.route, e.backend).set(e.weightPercent);
    if (e.action === 'rollback') {
      rollbacks.labels(e.route).inc();
      log?.warn({ route: e.route, canary: e.backend, reason: e.reason }, 'canary rolled back');
    } else {
      log?.info({ route: e.route, canary: e.backend, action: e.action, weightPercent: e.weightPercent, reason: e.reason }, `canary ${e.action === 'step' ? 'promoted a step' : e.action === 'promoted' ? 'fully promoted' : 'reset'}`);
    }
  });
}
