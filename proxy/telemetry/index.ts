// Telemetry subscribers for policy events, one per subsystem. Each registers its own SPEC §6
// metrics on the process registry and listens on the event bus.
import type { Registry } from 'prom-client';
import type { PolicyEvents } from '../events.ts';
import { attachCache } from './cache.ts';
import { attachResilience } from './resilience.ts';
import { attachTraffic } from './traffic.ts';
import type { Logger } from './log.ts';

// `log`: for subsystems whose events deserve a log line (a canary rolled back, a shadow mismatch).
type Attach = (registry: Registry, events: PolicyEvents, log?: Logger) => void;

const SUBSCRIBERS: readonly Attach[] = [
  attachCache,
  attachResilience,
  attachTraffic,
];

export function attachTelemetry(registry: Registry, events: PolicyEvents, log?: Logger): void {
  for (const attach of SUBSCRIBERS) attach(registry, events, log);
}
