// Prometheus metrics (SPEC §6). Label values come from the config (route, backend, runtime
// names), from HTTP statuses or from the error catalogue: never from a request.
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { FastCounter, FastHistogram } from './series.ts';
import type { CounterChild, HistogramChild } from './series.ts';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface RouteBackendChildren {
  readonly duration: HistogramChild;
  readonly statuses: Map<number, CounterChild>;
  readonly errors: Map<string, CounterChild>;
}

export class Metrics {
  readonly registry = new Registry();
  // The four per-request series are series.ts's (an update is a number add); the rest are
  // prom-client's own, updated rarely.
  private readonly requests = new FastCounter({
    name: 'outrider_requests_total', help: 'Requests answered on the data port, by route, backend and HTTP status.',
    labelNames: ['route', 'backend', 'code'] as const, registers: [this.registry],
  });
  private readonly errors = new FastCounter({
    name: 'outrider_errors_total', help: 'Requests answered with an Outrider error, by route and error code (SPEC §3).',
    labelNames: ['route', 'code'] as const, registers: [this.registry],
  });
  private readonly duration = new FastHistogram({
    name: 'outrider_request_duration_seconds', help: 'Time from request arrival to the end of the response.',
    labelNames: ['route', 'backend'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  private readonly upstream = new FastHistogram({
    name: 'outrider_upstream_duration_seconds', help: 'Time from sending an upstream attempt to its response headers.',
    labelNames: ['backend'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  private readonly shed = new Counter({
    name: 'outrider_shed_total', help: 'Requests refused to protect the proxy or a backend, by reason.',
    labelNames: ['reason'] as const, registers: [this.registry],
  });
  /** Read when scraped (the data plane's own count), so a request costs no gauge update. */
  private inFlightNow: () => number = () => 0;
  private readonly inFlight = new Gauge({
    name: 'outrider_in_flight_requests', help: 'Requests in flight on the data port.', registers: [this.registry],
    collect: () => { this.inFlight.set(this.inFlightNow()); },
  });
  readonly reloads = new Counter({
    name: 'outrider_config_reloads_total', help: 'Config reloads, by result (ok, invalid).',
    labelNames: ['result'] as const, registers: [this.registry],
  });
  readonly runtimeReady = new Gauge({
    name: 'outrider_runtime_ready', help: '1 when the runtime replica is ready to serve, else 0.',
    labelNames: ['runtime', 'replica'] as const, registers: [this.registry],
  });
  readonly runtimeRestarts = new Counter({
    name: 'outrider_runtime_restarts_total', help: 'Runtime replica restarts.',
    labelNames: ['runtime'] as const, registers: [this.registry],
  });
  readonly runtimeWarmup = new Gauge({
    name: 'outrider_runtime_warmup_seconds', help: 'Duration of the last warmup of a runtime replica.',
    labelNames: ['runtime'] as const, registers: [this.registry],
  });

  // Label children are looked up once per label set, not per request, through nested maps
  // (route -> backend) so the hot path builds no key strings or record objects.
  private readonly children = new Map<string, Map<string, RouteBackendChildren>>();
  private readonly upstreamChildren = new Map<string, HistogramChild>();

  private scratch: Metrics | null = null;

  /**
   * Where the proxy's own warmup requests are recorded: a twin never scraped, so that warmup
   * runs the same recording code as client requests (warm when the first one comes) without
   * counting in the series.
   */
  get forWarmup(): Metrics {
    return this.scratch ??= new Metrics();
  }

  /** Where outrider_in_flight_requests is read from when scraped. */
  countInFlight(read: () => number): void {
    this.inFlightNow = read;
  }

  /** One answered request: `code` is the error code, '' on success. */
  record(route: string, backend: string, status: number, code: string, seconds: number): void {
    let byBackend = this.children.get(route);
    if (byBackend === undefined) this.children.set(route, byBackend = new Map());
    let c = byBackend.get(backend);
    if (c === undefined) byBackend.set(backend, c = { duration: this.duration.labels(route, backend), statuses: new Map(), errors: new Map() });
    let counter = c.statuses.get(status);
    if (counter === undefined) c.statuses.set(status, counter = this.requests.labels(route, backend, String(status)));
    counter.value++;
    c.duration.observe(seconds);
    if (code !== '') {
      let e = c.errors.get(code);
      if (e === undefined) c.errors.set(code, e = this.errors.labels(route, code));
      e.value++;
    }
  }

  upstreamAttempt(backend: string, seconds: number): void {
    let u = this.upstreamChildren.get(backend);
    if (u === undefined) {
      u = this.upstream.labels(backend);
      this.upstreamChildren.set(backend, u);
    }
    u.observe(seconds);
  }

  shedOne(reason: string): void {
    this.shed.labels(reason).inc();
  }

  /** The proxy's metrics plus those the runtime workers keep in their own processes. */
  async render(workers: readonly MetricObjectWithValues<MetricValue<string>>[][]): Promise<string> {
    if (workers.length === 0) return this.registry.metrics();
    const own = await this.registry.getMetricsAsJSON();
    return AggregatorRegistry.aggregate([own, ...workers]).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
