// What the runtime side exposes to the proxy: live endpoint sets, readiness, status, metrics.
import type { EventEmitter } from 'node:events';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { RuntimeConfig } from '../proxy/config/types.ts';

export type ReplicaState = 'starting' | 'warming' | 'ready' | 'draining' | 'crashed' | 'backoff' | 'stopped';

/** One address the proxy can send requests to: a runtime replica or an upstream host. */
export interface Endpoint {
  readonly id: string;        // stable and bounded: "mlp/0", "legacy/http://10.0.0.7:8000"
  readonly origin: string;    // "http://127.0.0.1:41234"
  readonly backend: string;   // runtime or upstream name
}

/** A named backend: its ready endpoints change live (replicas becoming ready, crashing, draining). */
export interface BackendSet {
  readonly name: string;
  readonly kind: 'runtime' | 'upstream';
  readonly version: string;
  /** Ready endpoints right now. Cheap (returns a cached frozen array); never blocks. */
  endpoints(): readonly Endpoint[];
}

export interface ReplicaStatus {
  readonly replica: number;
  readonly pid: number | null;
  readonly state: ReplicaState;
  readonly restarts: number;
  readonly warmupSeconds: number | null;
  readonly origin: string | null;
  readonly lastError: string | null;
  readonly device: string | null;   // CUDA_VISIBLE_DEVICES given, if any
}

export interface RuntimeStatus {
  readonly name: string;
  readonly kind: 'onnx' | 'process';
  readonly version: string;
  readonly replicas: readonly ReplicaStatus[];
  /** Spare processes (restart.standby) not yet taken over: starting, ready, or gone (started again after a backoff). */
  readonly standby: readonly StandbyStatus[];
}

export type StandbyState = 'starting' | 'ready' | 'adopted' | 'gone';

export interface StandbyStatus {
  readonly slot: number;
  readonly pid: number | null;
  readonly state: StandbyState;
  readonly origin: string | null;
  readonly warmupSeconds: number | null;
  readonly device: string | null;
}

/**
 * Events (telemetry subscribes, the runtime code never imports prom-client's registry):
 *  'state'   { runtime, replica, state, previous, reason? }
 *  'restart' { runtime, replica }
 *  'warmup'  { runtime, replica, seconds }
 *  'log'     { runtime, replica, stream: 'stdout'|'stderr', line }
 */
export interface RuntimeManager extends EventEmitter {
  /** Spawns every replica; resolves once all are spawned (not necessarily ready). */
  start(): Promise<void>;
  /** Reconcile with a reloaded config: unchanged runtimes keep running, changed ones are replaced, removed ones stopped. */
  update(runtimes: readonly RuntimeConfig[]): Promise<void>;
  /** Stop routing, let in-flight finish, SIGTERM, SIGKILL after each runtime's stopGrace. */
  stop(): Promise<void>;
  backend(name: string): BackendSet | undefined;
  /** ready when every runtime has at least one ready replica; reasons name the ones that do not. */
  readiness(): { readonly ready: boolean; readonly reasons: readonly string[] };
  status(): readonly RuntimeStatus[];
  /** prom-client JSON of every live worker's own registry (batch size, queue wait, ...), for aggregation. */
  workerMetrics(): Promise<MetricObjectWithValues<MetricValue<string>>[][]>;
  /** Zeroes every live worker's own metrics: called once the proxy's warmup through them has ended. */
  resetWorkerMetrics(): void;
}
