// Wiring and lifecycle: config -> runtimes -> route table -> listeners; reload swaps the route
// table in one step; drain stops accepting, lets in-flight finish, stops runtimes (SPEC §1).
import type http from 'node:http';
import type https from 'node:https';
import { Server as NetServer, type AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { createRuntimeManager } from '../runtime/manager.ts';
import type { RuntimeManager } from '../runtime/types.ts';
import { createAdminServer } from './admin.ts';
import { Balancers } from './balance.ts';
import { formatConfigError, loadConfigFile } from './config/load.ts';
import type { Config, ConfigError, ListenAddress } from './config/types.ts';
import { Forwarder } from './forward.ts';
import { createEventBus } from './events.ts';
import type { PolicyEvents } from './events.ts';
import { Persistent } from './persist.ts';
import { SharedCache } from './cache/shared.ts';
import { attachTelemetry } from './telemetry/index.ts';
import { buildRouteTable } from './routing.ts';
import type { RoutingDeps } from './routing.ts';
import { closeEveryConnection, createDataServer } from './server.ts';
import { serverTlsOptions, watchServerTls } from './tls.ts';
import type { DataPlane } from './server.ts';
import { createLogger, drainLog, lineSink } from './telemetry/log.ts';
import type { Logger } from './telemetry/log.ts';
import { Metrics } from './telemetry/metrics.ts';
import { startTracing, stopTracing } from './telemetry/tracing.ts';
import { WarmClient, warmForwardPath, warmToken } from './warmup.ts';

export type ReloadResult = { ok: true } | { ok: false; errors: readonly ConfigError[]; formatted: readonly string[] };

export class Outrider {
  readonly file: string;
  readonly plane: DataPlane;
  readonly runtimes: RuntimeManager;
  private readonly forwarder: Forwarder;
  private readonly balancers: Balancers;
  readonly events: PolicyEvents;
  private readonly persist = new Persistent();
  private readonly cache: SharedCache;
  private readonly data: http.Server | https.Server;
  private unwatchTls: () => void = () => undefined;
  private readonly admin: http.Server;
  private reloading: Promise<ReloadResult> = Promise.resolve({ ok: true });
  private stopping: Promise<void> | null = null;
  /** The proxy's warmup client, forked at start when there are runtimes to warm (proxy/warmup.ts). */
  private warmClient: WarmClient | null = null;

  private constructor(file: string, config: Config, log: Logger) {
    this.file = file;
    const metrics = new Metrics();
    this.balancers = new Balancers();
    this.events = createEventBus();
    attachTelemetry(metrics.registry, this.events, log);
    this.cache = new SharedCache(this.events, log);
    this.forwarder = new Forwarder({ requestIdHeader: config.requestId.header, upstreams: config.upstreams, metrics });
    // A replica leaving rotation is stopped only once the forwarder has nothing in flight to it.
    this.runtimes = createRuntimeManager(config.runtimes, { logger: log, release: (origin, signal) => this.forwarder.release(origin, signal) });
    watchRuntimes(this.runtimes, metrics);
    const table = buildRouteTable(config, this.routingDeps());
    this.plane = { table, draining: false, inFlight: 0, metrics, log, accessSink: lineSink(log), warmToken: warmToken(), warmed: config.runtimes.length === 0 };
    metrics.countInFlight(() => this.plane.inFlight);
    this.data = createDataServer(this.plane);
    if (config.listen.tls !== null) this.unwatchTls = watchServerTls(this.data as https.Server, config.listen.tls, log);
    this.admin = createAdminServer({ plane: this.plane, runtimes: this.runtimes, balancers: this.balancers, reload: () => this.reload() });
  }

  /** Loads the config (throws ConfigLoadError with every error) and starts everything. */
  static async start(file: string): Promise<Outrider> {
    const loaded = await loadConfigFile(file);
    if (!loaded.ok) throw new ConfigLoadError(loaded.errors);
    const config = loaded.config;
    const log = createLogger(config.telemetry.logLevel);
    if (config.telemetry.tracing) await startTracing();
    const app = new Outrider(file, config, log);
    // Forked before the runtimes start, so that its Node start-up overlaps theirs.
    const warmClient = app.plane.warmed ? null : (app.warmClient = new WarmClient(log));
    let data: string;
    let admin: string;
    try {
      await app.runtimes.start();
      [data, admin] = await Promise.all([listen(app.data, config.listen.data), listen(app.admin, config.listen.admin)]);
    } catch (e) {
      // Its IPC channel would keep this process alive.
      await warmClient?.stop();
      throw e;
    }
    log.info({ data, admin, config: config.file, runtimes: config.runtimes.map((r) => r.name), routes: config.routes.map((r) => r.name) }, 'listening');
    if (warmClient !== null) void app.warmWhenReady(warmClient);
    return app;
  }

  private routingDeps(): RoutingDeps {
    return { runtime: (n) => this.runtimes.backend(n), forwarder: this.forwarder, balancers: this.balancers, events: this.events, persist: this.persist, cache: this.cache };
  }

  /** Once every runtime has a ready replica, warms the proxy's forward path; /readyz waits for it. */
  private async warmWhenReady(client: WarmClient): Promise<void> {
    while (!this.runtimes.readiness().ready) {
      if (this.stopping !== null) return;
      await sleep(20);
    }
    const address = this.data.address();
    const tls = this.config.listen.tls !== null;
    const target = typeof address === 'string'
      ? { origin: `${tls ? 'https' : 'http'}://localhost`, socketPath: address, tls }
      : { origin: `${tls ? 'https' : 'http'}://${loopbackFor(address)}`, socketPath: null, tls };
    await warmForwardPath(this.config, target, this.plane.warmToken, this.plane.log, client);
    this.warmClient = null;
    // The workers' own inference metrics counted the warmup's requests: they start from zero.
    this.runtimes.resetWorkerMetrics();
    this.plane.warmed = true;
  }

  get config(): Config {
    return this.plane.table.config;
  }

  addresses(): { data: string; admin: string } {
    return { data: describe(this.data.address()), admin: describe(this.admin.address()) };
  }

  /** Re-reads the file; an invalid one is refused and the running config stays. Reloads never overlap. */
  reload(): Promise<ReloadResult> {
    this.reloading = this.reloading.then(() => this.reloadNow(), () => this.reloadNow());
    return this.reloading;
  }

  private async reloadNow(): Promise<ReloadResult> {
    const { log, metrics } = this.plane;
    const loaded = await loadConfigFile(this.file);
    if (!loaded.ok) {
      metrics.reloads.labels('invalid').inc();
      const formatted = loaded.errors.map(formatConfigError);
      log.error({ errors: formatted }, 'config reload refused; the running config stays');
      return { ok: false, errors: loaded.errors, formatted };
    }
    const next = loaded.config;
    const prev = this.config;
    await this.runtimes.update(next.runtimes);
    if (next.telemetry.tracing && !prev.telemetry.tracing) await startTracing();
    if (!next.telemetry.tracing && prev.telemetry.tracing) await stopTracing();
    this.forwarder.configure(next.requestId.header, next.upstreams);
    const table = buildRouteTable(next, this.routingDeps());
    // One reference swap: requests already in flight keep the table they started with.
    this.plane.table = table;
    this.data.headersTimeout = next.limits.headersTimeout;
    if (next.listen.tls !== null && prev.listen.tls !== null && JSON.stringify(next.listen.tls) !== JSON.stringify(prev.listen.tls)) {
      try {
        (this.data as https.Server).setSecureContext(serverTlsOptions(next.listen.tls));
        this.unwatchTls();
        this.unwatchTls = watchServerTls(this.data as https.Server, next.listen.tls, log);
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'new listen.tls files not applied; the previous certificate stays');
      }
    }
    for (const key of ['listen', 'limits.maxHeaderBytes'] as const) {
      if (JSON.stringify(pick(prev, key)) !== JSON.stringify(pick(next, key))) log.warn({ key }, `${key} changes take effect at the next restart`);
    }
    metrics.reloads.labels('ok').inc();
    log.info({ routes: next.routes.map((r) => r.name) }, 'config reloaded');
    return { ok: true };
  }

  /** SIGTERM/SIGINT: stop accepting, /readyz 503 at once, finish in-flight up to drainTimeout, stop runtimes. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    const { plane } = this;
    const { log } = plane;
    plane.draining = true;
    this.unwatchTls();
    void this.warmClient?.stop();
    log.info({ inFlight: plane.inFlight, drainTimeoutMs: this.config.limits.drainTimeout }, 'draining');
    // Stop accepting, but leave idle keep-alive connections open for a moment: a client may have
    // a request on its way over one, which closing them at once (what http.Server.close() does)
    // would reset. Responses written from now on close their connection (server.ts), so
    // connections leave as their last response ends.
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(this.data, () => resolve()));
    const start = performance.now();
    const deadline = start + this.config.limits.drainTimeout;
    const idleUntil = start + Math.min(IDLE_DRAIN_GRACE_MS, this.config.limits.drainTimeout);
    while (performance.now() < deadline) {
      if (plane.inFlight === 0 && (performance.now() >= idleUntil || await openConnections(this.data) === 0)) break;
      await sleep(20);
    }
    if (plane.inFlight > 0) log.warn({ inFlight: plane.inFlight }, 'drain timeout: closing the remaining connections');
    // http.Server.close() also stops the server's connection-checking timer (the listener is
    // already closed: its callback only reports that).
    this.data.close(() => undefined);
    closeEveryConnection(this.data);
    await closed;
    await this.runtimes.stop();
    const adminClosed = new Promise<void>((resolve) => this.admin.close(() => resolve()));
    this.admin.closeAllConnections();
    await adminClosed;
    // Policy state goes: timers stop, and work no client waits for (shadow copies) is cut, so
    // closing the upstream pools below does not wait for it.
    this.persist.retain(new Set());
    await this.forwarder.close().catch(() => undefined);
    await this.cache.close().catch(() => undefined);
    await stopTracing();
    log.info('stopped');
    // Written before exit, so that exit's synchronous flush has nothing racing it.
    await drainLog(log, LOG_DRAIN_MS);
  }
}

/** How long stop() waits for the log's last lines to be written before the process exits. */
const LOG_DRAIN_MS = 1_000;

/** How long idle keep-alive connections stay open after SIGTERM: for requests already on their way. */
const IDLE_DRAIN_GRACE_MS = 500;

function openConnections(server: http.Server | https.Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((err, n) => resolve(err === null ? n : 0)));
}

export class ConfigLoadError extends Error {
  readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    super(errors.map(formatConfigError).join('\n'));
    this.name = 'ConfigLoadError';
    this.errors = errors;
  }
}

function watchRuntimes(runtimes: RuntimeManager, metrics: Metrics): void {
  runtimes.on('state', (e: { runtime: string; replica: number; state: string }) => {
    metrics.runtimeReady.labels(e.runtime, String(e.replica)).set(e.state === 'ready' ? 1 : 0);
  });
  runtimes.on('restart', (e: { runtime: string }) => metrics.runtimeRestarts.labels(e.runtime).inc());
  runtimes.on('warmup', (e: { runtime: string; seconds: number }) => metrics.runtimeWarmup.labels(e.runtime).set(e.seconds));
}

async function listen(server: http.Server, addr: ListenAddress): Promise<string> {
  if (addr.kind === 'unix') await rm(addr.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (addr.kind === 'unix') server.listen(addr.path, () => resolve());
    else server.listen(addr.port, addr.host, () => resolve());
  });
  return describe(server.address());
}

/** Where this process reaches its own listener: a wildcard address means loopback. */
function loopbackFor(a: AddressInfo | null): string {
  if (a === null) return '127.0.0.1';
  if (a.address === '0.0.0.0') return `127.0.0.1:${a.port}`;
  if (a.address === '::') return `[::1]:${a.port}`;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function describe(a: AddressInfo | string | null): string {
  if (a === null) return '';
  if (typeof a === 'string') return `unix:${a}`;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function pick(c: Config, key: 'listen' | 'limits.maxHeaderBytes'): unknown {
  // Certificate changes are applied live; the addresses and whether TLS is on need a restart.
  return key === 'listen' ? { data: c.listen.data, admin: c.listen.admin, tls: c.listen.tls !== null } : c.limits.maxHeaderBytes;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
