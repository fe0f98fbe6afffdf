// GPU pinning (SPEC §2 `devices`, `device: cuda:N`): which CUDA_VISIBLE_DEVICES a replica gets.
import type { RuntimeConfig } from '../proxy/config/types.ts';

/**
 * `ordinal` is the replica's position within its generation (0..replicas-1), so a rolling
 * update lands each new replica on the GPU its predecessor used.
 * null: leave CUDA_VISIBLE_DEVICES as Outrider's own environment has it.
 */
export function visibleDevices(runtime: RuntimeConfig, ordinal: number): string | null {
  if (runtime.devices.length > 0) return runtime.devices[ordinal % runtime.devices.length]!;
  // `cuda:N` without `devices`: pin to N; inside the worker that GPU is then device 0.
  if (runtime.kind === 'onnx' && runtime.device === 'cuda' && runtime.cudaDevice !== null) return String(runtime.cudaDevice);
  return null;
}
