// Requests refused to protect a backend or the proxy, beyond the edge's max_in_flight (which
// proxy/server.ts counts itself). Telemetry adds them to SPEC §6 outrider_shed_total{reason}.
export const SHED = 'shed';
export interface ShedEvent {
  /** route_concurrency: the route's maxConcurrent; breaker_concurrency: a backend's breaker.maxConcurrent. */
  readonly reason: 'route_concurrency' | 'breaker_concurrency';
  readonly route: string;
  readonly backend: string | null;
}
