// The normalised, frozen configuration every other part of Outrider receives.
// YAML text -> parse (positions kept) -> JSON Schema -> cross-references -> normalise -> freeze.
// Durations are milliseconds, sizes are bytes, relative paths are absolute (resolved
// against the config file's directory), defaults are filled.

export type Ms = number;
export type Bytes = number;

export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export interface ListenTls {
  readonly cert: string;            // absolute paths
  readonly key: string;
  readonly clientCa: string | null; // set: clients must present a certificate signed by it (mTLS)
}

export interface UpstreamTls {
  readonly ca: string | null;       // absolute paths
  readonly cert: string | null;
  readonly key: string | null;
  readonly serverName: string | null;
  readonly insecureSkipVerify: boolean;
}

export interface Limits {
  readonly maxHeaderBytes: Bytes;   // default 16 KiB
  readonly maxBodyBytes: Bytes;     // default 8 MiB
  readonly maxInFlight: number;     // default 1024
  readonly headersTimeout: Ms;      // default 10 s
  readonly bodyTimeout: Ms;         // default 30 s
  readonly drainTimeout: Ms;        // default 20 s
}

export interface RequestIdConfig {
  readonly header: string;          // lower-cased; default x-request-id
  readonly trustIncoming: boolean;  // default true
}

export interface RestartConfig {
  readonly minBackoff: Ms;          // default 500 ms
  readonly maxBackoff: Ms;          // default 30 s
  /** Spare processes kept started and warm, out of rotation; a crashed replica takes one over after its backoff (runtime/standby.ts). Default 0. */
  readonly standby: number;
  /**
   * A restart's process is started ahead of the backoff's end by what the last start took to
   * become ready (at most half the delay), and joins the rotation when the backoff ends: the
   * replica is back after its backoff, not a whole start later. Only without spares. Default true.
   */
  readonly bootAhead: boolean;
}

export interface BatchingConfig {
  readonly maxBatchSize: number;    // default 1 (no batching) when `batching` is absent
  readonly maxQueueDelay: Ms;       // default 0
  readonly maxQueue: number;        // default 512
}

export interface OnnxRuntimeConfig {
  readonly kind: 'onnx';
  readonly name: string;
  readonly model: string;           // absolute path
  readonly version: string;         // default "1"
  readonly replicas: number;        // default 1
  readonly device: 'cpu' | 'cuda';
  readonly cudaDevice: number | null;   // N of `cuda:N`; null for cpu or bare `cuda`
  readonly devices: readonly string[];  // replica i gets CUDA_VISIBLE_DEVICES=devices[i % len] when non-empty
  readonly cpuFallback: boolean;    // default false: cuda unavailable is a start error
  readonly threads: number;         // default 1
  readonly inference: 'auto' | 'thread' | 'inline';   // where session.run executes, default auto (runtime/onnx/inline-session.ts)
  readonly batching: BatchingConfig;
  readonly warmup: { readonly iterations: number; readonly sample: string | null };  // default 20 iterations; sample: absolute path
  readonly restart: RestartConfig;
  readonly stopGrace: Ms;           // SIGTERM -> SIGKILL grace, default 5 s
  readonly tokenizer: 'builtin';    // for /v1/embeddings on strings
}

export interface WarmupRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | null;     // inline body, or the content of bodyFile read at load time
}

export interface ProcessRuntimeConfig {
  readonly kind: 'process';
  readonly name: string;
  readonly command: readonly string[];  // ${PORT} left in place: replaced per replica at spawn
  readonly cwd: string;             // absolute; default the config file's directory
  readonly env: Readonly<Record<string, string>>;
  readonly version: string;         // default "1"
  readonly replicas: number;
  readonly devices: readonly string[];  // replica i gets CUDA_VISIBLE_DEVICES=devices[i] when non-empty
  readonly health: {
    readonly path: string;          // default /v2/health/ready
    readonly interval: Ms;          // default 1 s
    readonly timeout: Ms;           // one probe, default 1 s
    readonly startupTimeout: Ms;    // default 120 s
    readonly failureThreshold: number; // consecutive failed probes when ready before restart, default 3
  };
  readonly warmup: { readonly iterations: number; readonly requests: readonly WarmupRequest[] };
  readonly restart: RestartConfig;
  readonly stopGrace: Ms;
}

export type RuntimeConfig = OnnxRuntimeConfig | ProcessRuntimeConfig;

export interface OutlierConfig {
  readonly consecutiveFailures: number;
  readonly ejectFor: Ms;
}

export interface UpstreamConfig {
  readonly name: string;
  readonly endpoints: readonly string[];  // origins, e.g. http://10.0.0.7:8000 (no trailing slash)
  readonly outlier: OutlierConfig | null;
  readonly tls: UpstreamTls | null;
}

export interface HeaderMatch {
  readonly name: string;            // lower-cased
  readonly value: string | null;    // exact value; null = header present
}

export interface RouteMatch {
  readonly path: string;
  readonly prefix: boolean;
  readonly methods: readonly string[] | null;  // upper-cased; null = any
  readonly headers: readonly HeaderMatch[];
}

export interface BackendRef {
  readonly to: string;
  readonly weight: number;
}

export interface RetryConfig {
  readonly attempts: number;
  readonly on: readonly (string | number)[];
  readonly budget: number;
}

export interface BreakerConfig {
  readonly failureRate: number;
  readonly minRequests: number;
  readonly window: Ms;
  readonly openFor: Ms;
  readonly maxConcurrent: number;
}

export interface RouteCacheConfig {
  readonly ttl: Ms;
  readonly vary: readonly string[];     // lower-cased request header names
  readonly staleFor: Ms;            // kept this long after ttl for the `cache: stale` fallback; default 5 m with such a fallback, else 0
}

export interface ShadowConfig {
  readonly to: string;
  readonly percent: number;
  readonly compare: 'argmax' | 'max-abs-diff' | 'cosine' | 'exact';
  readonly timeout: Ms | null;      // null: the primary's remaining budget
  readonly maxInFlight: number;     // shadows in flight per route before copies are dropped; default 64
  readonly tolerance: number | null; // divergence still counted a match; null: the compare kind's default
}

export interface CanaryConfig {
  readonly backend: string;
  readonly window: Ms;
  readonly minRequests: number;
  readonly maxErrorRateDelta: number;
  readonly maxP99Ratio: number;
  readonly action: 'rollback' | 'promote';
  readonly steps: readonly number[];  // increasing; promote without steps gets [5, 25, 50, 100]
  readonly stepEvery: Ms;           // promotion interval; default `window`
}

export type FallbackStep =
  | { readonly kind: 'stale-cache' }
  | { readonly kind: 'backend'; readonly to: string }
  | { readonly kind: 'static'; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: string; readonly contentType: string };

export interface RouteConfig {
  readonly name: string;
  readonly match: RouteMatch;
  readonly timeout: Ms;             // default 60 s: every request has a deadline
  readonly attemptTimeout: Ms | null;
  readonly backends: readonly BackendRef[];
  readonly retry: RetryConfig | null;
  readonly breaker: BreakerConfig | null;
  readonly cache: RouteCacheConfig | null;
  readonly embeddingCache: { readonly ttl: Ms } | null;
  readonly sticky: { readonly header: string } | null;
  readonly shadow: ShadowConfig | null;
  readonly canary: CanaryConfig | null;
  readonly balance: 'p2c-ewma' | 'round-robin';  // endpoint picking within a backend; default p2c-ewma
  readonly fallback: readonly FallbackStep[];
  readonly maxConcurrent: number | null;  // requests in flight on the route before shedding; null = no limit of its own
}

export interface CacheConfig {
  readonly maxBytes: Bytes;
  readonly maxEntryBytes: Bytes;    // larger responses stream through unstored; default min(1 MiB, maxBytes / 8)
  readonly store: 'memory' | 'redis';
  readonly redis: { readonly url: string; readonly prefix: string } | null;
}

export interface TelemetryConfig {
  readonly tracing: boolean;
  readonly accessLog: boolean;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export interface Config {
  readonly version: 1;
  readonly file: string;            // absolute path of the config file
  readonly dir: string;             // its directory
  readonly listen: { readonly data: ListenAddress; readonly admin: ListenAddress; readonly tls: ListenTls | null };
  readonly limits: Limits;
  readonly requestId: RequestIdConfig;
  readonly runtimes: readonly RuntimeConfig[];
  readonly upstreams: readonly UpstreamConfig[];
  readonly routes: readonly RouteConfig[];
  readonly cache: CacheConfig;
  readonly telemetry: TelemetryConfig;
}

export interface ConfigError {
  readonly file: string;
  readonly line: number;            // 1-based
  readonly col: number;             // 1-based
  readonly path: string;            // e.g. routes[0].backends[1].to
  readonly message: string;
}

export type LoadResult =
  | { readonly ok: true; readonly config: Config }
  | { readonly ok: false; readonly errors: readonly ConfigError[] };
