// Bounds on one request, checked before anything is allocated for it, so an absurd shape or
// body is refused with a 400/413 instead of exhausting the worker's memory.
import type { BatchingConfig } from '../../proxy/config/types.ts';

export interface RequestLimits {
  /** Request body, in bytes. The proxy's own limits.maxBodyBytes (default 8 MiB) is normally lower. */
  readonly maxBodyBytes: number;
  /** Rows (dim 0) in one request: a request may exceed maxBatchSize (it then runs alone), but not this. */
  readonly maxRows: number;
  /** Any other dynamic dim (a sequence length, an image side). */
  readonly maxDim: number;
  /** Elements in one input tensor (16 Mi: 64 MiB of float32). */
  readonly maxElements: number;
}

export function requestLimits(batching: BatchingConfig): RequestLimits {
  return {
    maxBodyBytes: 32 * 1024 * 1024,
    maxRows: Math.max(1024, batching.maxBatchSize),
    maxDim: 8192,
    maxElements: 16 * 1024 * 1024,
  };
}
