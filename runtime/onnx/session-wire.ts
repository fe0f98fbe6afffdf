// Messages between the worker's HTTP thread (session.ts) and its inference thread
// (session-thread.ts). Tensor data travels as transferred typed arrays.
import type { TypedArray } from './datatypes.ts';
import type { RawValueMetadata } from './signature.ts';

export interface ThreadInit {
  readonly model: string;
  readonly device: 'cpu' | 'cuda';
  readonly deviceId: number;
  readonly cpuFallback: boolean;
  readonly threads: number;
}

export interface WireTensor {
  readonly type: string;           // onnxruntime element type, e.g. float32
  readonly dims: readonly number[];
  readonly data: TypedArray;
}

/** `timeCpu`: also measure the run's cpuSeconds (warmup's runs only). */
export type ToThread = { readonly type: 'run'; readonly id: number; readonly inputs: readonly WireTensor[]; readonly timeCpu: boolean };

export type FromThread =
  | { readonly type: 'loaded'; readonly provider: 'cpu' | 'cuda'; readonly warning: string | null; readonly inputs: readonly RawValueMetadata[]; readonly outputs: readonly RawValueMetadata[] }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly seconds: number; readonly cpuSeconds?: number; readonly outputs: readonly WireTensor[] }
  | { readonly type: 'error'; readonly id: number; readonly message: string };
