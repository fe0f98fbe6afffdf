// Telemetry subscribers for policy events, one per subsystem. Each registers its own SPEC §6
// metrics on the process registry and listens on the event bus.
import type { Registry } from 'prom-client';
import type { PolicyEvents } from '../events.ts';

type Attach = (registry: Registry, events: PolicyEvents) => void;

const SUBSCRIBERS: readonly Attach[] = [];

export function attachTelemetry(registry: Registry, events: PolicyEvents): void {
  for (const attach of SUBSCRIBERS) attach(registry, events);
}
