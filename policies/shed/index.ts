// Load shedding per route (route `maxConcurrent`): above the limit a request is refused at once
// with 503 overloaded + Retry-After, before it buffers a body or touches a backend, and counted in
// outrider_shed_total{reason="route_concurrency"}. No queue: a request waiting behind a full route
// would only spend its deadline there, and admitted requests keep their latency.
//
// A slot is held until the reply's head is back (not while its body streams to the client).
// The count survives reloads, so requests still in flight on the old table keep counting.
import { OutriderError } from '../../proxy/errors.ts';
import type { Policy } from '../../proxy/pipeline.ts';
import type { RouteBuild } from '../../proxy/routing.ts';
import { SHED } from './events.ts';
import type { ShedEvent } from './events.ts';

export function shedPolicy(b: RouteBuild): Policy | null {
  const max = b.route.maxConcurrent;
  if (max === null) return null;
  const route = b.route.name;
  const slots = b.persist(`shed:${route}`, '', () => ({ inFlight: 0 }));
  const events = b.events;
  const shed: ShedEvent = Object.freeze({ reason: 'route_concurrency', route, backend: null });
  // One refusal per route, thrown as often as needed: the shed path allocates nothing it need not.
  const refusal = new OutriderError('overloaded', `route "${route}" has ${max} requests in flight (maxConcurrent)`, { detail: 'route_concurrency' });
  b.addStatus('concurrency', () => ({ inFlight: slots.inFlight, maxConcurrent: max }));

  return (next) => async (ctx) => {
    if (slots.inFlight >= max) {
      events.emit(SHED, shed);
      throw refusal;
    }
    slots.inFlight++;
    try {
      return await next(ctx);
    } finally {
      slots.inFlight--;
    }
  };
}
