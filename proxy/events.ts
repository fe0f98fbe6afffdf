// Policies and runtimes emit events; telemetry subscribes (STYLE: a breaker does not import
// prom-client). One bus per process. Payloads carry config names and codes only, so whatever
// telemetry makes of them stays bounded.
import { EventEmitter } from 'node:events';

export type PolicyEvents = EventEmitter;

export function createEventBus(): PolicyEvents {
  const bus = new EventEmitter();
  // Many routes may subscribe; listeners are per subsystem, not per request.
  bus.setMaxListeners(0);
  return bus;
}
