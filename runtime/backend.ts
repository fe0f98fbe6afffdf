// One runtime name as the proxy sees it: a BackendSet whose endpoints are its ready replicas.
// Replicas come in generations. A config change starts a new generation beside the serving
// one; the old one drains only once every new replica is ready, so service has no gap.
import type { RuntimeConfig } from '../proxy/config/types.ts';
import { Replica, type ReplicaAdapter, type ReplicaHooks } from './replica.ts';
import { StandbyPool, type StandbyHooks } from './standby.ts';
import type { BackendSet, Endpoint, ReplicaState, RuntimeStatus } from './types.ts';

/** `ordinal`: position within the generation (device pinning); `index`: the replica's label, unique among live replicas. */
export type AdapterFactory = (config: RuntimeConfig, ordinal: number, index: number) => ReplicaAdapter;

const NONE: readonly Endpoint[] = Object.freeze([]);

export class RuntimeBackend implements BackendSet {
  readonly name: string;
  readonly kind = 'runtime' as const;
  private cfg: RuntimeConfig;
  /** Every replica not yet stopped, of any generation, in index order. */
  private replicas: Replica[] = [];
  private currentGeneration = new Set<Replica>();
  private cached: readonly Endpoint[] = NONE;
  private readonly makeAdapter: AdapterFactory;
  private readonly hooks: ReplicaHooks;
  /** What the runtime's owner hears about its spares (the state of each, their logs). */
  private readonly standbyHooks: StandbyHooks;
  /** The current generation's spares (restart.standby), started once that generation is ready. */
  private spares: StandbyPool | null = null;
  /** Pools of replaced generations, still stopping their spares: stop() waits for them too. */
  private readonly closing = new Set<Promise<void>>();

  constructor(config: RuntimeConfig, makeAdapter: AdapterFactory, outer: ReplicaHooks, standbyHooks: StandbyHooks) {
    this.name = config.name;
    this.cfg = config;
    this.makeAdapter = makeAdapter;
    this.standbyHooks = standbyHooks;
    this.hooks = {
      // Listeners see the endpoint set that matches the event, and the event before what it causes.
      state: (replica, state, previous, reason) => {
        this.refresh(replica, state);
        outer.state(replica, state, previous, reason);
        this.react(replica, state);
      },
      restart: outer.restart,
      warmup: outer.warmup,
      log: outer.log,
      release: outer.release,
      // Only the current generation's replicas take spares: those run its config.
      adopt: (replica, sink) => (this.currentGeneration.has(replica) ? this.spares?.adopt(replica.device, sink) ?? null : null),
    };
  }

  get version(): string { return this.cfg.version; }
  get config(): RuntimeConfig { return this.cfg; }

  endpoints(): readonly Endpoint[] { return this.cached; }

  async start(): Promise<void> {
    this.spares = this.standbyPool(this.cfg);
    const fresh = this.generation(this.cfg);
    this.currentGeneration = new Set(fresh);
    await Promise.all(fresh.map((r) => r.start()));
  }

  /** Before start(): the config start() will use. */
  configure(config: RuntimeConfig): void {
    if (this.replicas.length > 0) throw new Error(`runtime "${this.name}" is running: replace() it`);
    this.cfg = config;
  }

  /** Start a generation for `config`; the serving one keeps serving until it is ready. */
  async replace(config: RuntimeConfig): Promise<void> {
    this.cfg = config;
    const previous = [...this.currentGeneration];
    const fresh = this.generation(config);
    this.currentGeneration = new Set(fresh);
    // Replicas that are not serving have nothing to hand over: stop them now. That also
    // covers a generation replaced again before it ever became ready.
    for (const r of previous) if (r.state !== 'ready') void r.stop();
    // The old generation's spares run the old config: none is taken over from now on.
    this.retire(this.spares);
    this.spares = this.standbyPool(config);
    await Promise.all(fresh.map((r) => r.start()));
  }

  stop(): Promise<void> {
    const spares = this.spares;
    this.spares = null;
    this.retire(spares);
    return Promise.all([...[...this.replicas].map((r) => r.stop()), ...this.closing]).then(() => undefined);
  }

  private retire(pool: StandbyPool | null): void {
    if (pool === null) return;
    const done = pool.close();
    this.closing.add(done);
    void done.then(() => this.closing.delete(done));
  }

  /** null when at least one replica is ready, else the reason (SPEC §5 /readyz). */
  problem(): string | null {
    if (this.cached.length > 0) return null;
    const parts = this.replicas.map((r) => `replica ${r.index}: ${r.describe()}`);
    return `runtime "${this.name}": no ready replica (${parts.length > 0 ? parts.join('; ') : 'no replica running'})`;
  }

  status(): RuntimeStatus {
    return {
      name: this.name,
      kind: this.cfg.kind,
      version: this.cfg.version,
      replicas: this.replicas.map((r) => r.status()),
      standby: this.spares?.status() ?? [],
    };
  }

  resetMetrics(): void {
    for (const r of this.replicas) r.resetMetrics();
  }

  metrics(timeoutMs: number): Promise<(unknown[] | null)[]> {
    return Promise.all(this.replicas.map((r) => r.metrics(timeoutMs)));
  }

  private generation(config: RuntimeConfig): Replica[] {
    // Indices of live replicas stay taken so endpoint ids and metric labels never collide
    // while two generations overlap; they are reused once the old generation is gone.
    const taken = new Set(this.replicas.map((r) => r.index));
    const fresh: Replica[] = [];
    let index = 0;
    for (let ordinal = 0; ordinal < config.replicas; ordinal++) {
      while (taken.has(index)) index++;
      taken.add(index);
      fresh.push(new Replica(config.name, index, this.makeAdapter(config, ordinal, index), config.restart, this.hooks, config.stopGrace));
    }
    this.replicas = [...this.replicas, ...fresh].sort((a, b) => a.index - b.index);
    return fresh;
  }

  private refresh(replica: Replica, state: ReplicaState): void {
    if (state === 'stopped') this.replicas = this.replicas.filter((r) => r !== replica);
    const endpoints: Endpoint[] = [];
    for (const r of this.replicas) {
      const e = r.endpoint();
      if (e !== null) endpoints.push(e);
    }
    this.cached = Object.freeze(endpoints);
  }

  private react(replica: Replica, state: ReplicaState): void {
    // An old replica that crashes is restarted like any other: until the new generation is
    // ready (it may never be) the old one is what serves.
    if (state === 'ready' && this.currentGeneration.has(replica)) {
      this.handOver();
      // Spares start once the whole generation serves: they never slow its own start (after stop() there is no pool).
      if ([...this.currentGeneration].every((r) => r.state === 'ready')) this.spares?.fill();
    }
  }

  /**
   * Spare slot k is pinned like replica k of the generation (CUDA_VISIBLE_DEVICES of ordinal
   * k mod replicas): with fewer spares than devices, replicas on the other devices restart the
   * usual way, and the first devices hold one process more.
   */
  private standbyPool(config: RuntimeConfig): StandbyPool | null {
    const n = config.restart.standby;
    if (n === 0) return null;
    // Labels past the generation's replicas: a spare's own log lines never pose as a replica's.
    return new StandbyPool(config.name, n, config.restart, (slot) => this.makeAdapter(config, slot % config.replicas, config.replicas + slot), this.standbyHooks);
  }

  /** Once every replica of the current generation is ready, the older ones drain. */
  private handOver(): void {
    for (const r of this.currentGeneration) if (r.state !== 'ready') return;
    for (const r of [...this.replicas]) if (!this.currentGeneration.has(r)) void r.stop();
  }
}
