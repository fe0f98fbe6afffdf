// IPC between the supervisor (parent) and a built-in ONNX worker process (child_process.fork).
// The worker reads its config from the env var OUTRIDER_WORKER (JSON of WorkerInit).
import type { OnnxRuntimeConfig } from '../proxy/config/types.ts';

export interface WorkerInit {
  readonly runtime: OnnxRuntimeConfig;
  readonly replica: number;
  readonly host: string;          // listen host, 127.0.0.1
}

export type WorkerToParent =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'warming' }
  | { readonly type: 'ready'; readonly warmupSeconds: number }
  | { readonly type: 'fatal'; readonly message: string }              // then the worker exits 1
  | { readonly type: 'metrics'; readonly id: number; readonly data: unknown[] };

export type ParentToWorker =
  | { readonly type: 'metrics'; readonly id: number }
  // The proxy's own warmup has ended: its inferences are not the clients' (proxy/warmup.ts).
  | { readonly type: 'reset-metrics' }
  | { readonly type: 'drain' };   // stop accepting, finish queued work, exit 0
