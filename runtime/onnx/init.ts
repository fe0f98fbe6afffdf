// The worker's start parameters: WorkerInit from the OUTRIDER_WORKER environment variable
// (runtime/protocol.ts), checked enough to fail with a message instead of a TypeError.
import type { OnnxRuntimeConfig } from '../../proxy/config/types.ts';
import type { WorkerInit } from '../protocol.ts';

export function readWorkerInit(raw: string | undefined): WorkerInit {
  if (raw === undefined || raw === '') throw new Error('OUTRIDER_WORKER is not set; the onnx worker is started by the Outrider supervisor');
  let init: unknown;
  try {
    init = JSON.parse(raw);
  } catch (e) {
    throw new Error(`OUTRIDER_WORKER is not valid JSON: ${(e as Error).message}`);
  }
  const i = init as Partial<WorkerInit> | null;
  const rt = i?.runtime as Partial<OnnxRuntimeConfig> | undefined;
  const problems: string[] = [];
  if (rt?.kind !== 'onnx') problems.push('runtime.kind must be "onnx"');
  if (typeof rt?.name !== 'string') problems.push('runtime.name must be a string');
  if (typeof rt?.model !== 'string') problems.push('runtime.model must be a string');
  if (typeof rt?.version !== 'string') problems.push('runtime.version must be a string');
  if (typeof rt?.batching?.maxBatchSize !== 'number') problems.push('runtime.batching must be the normalised batching config');
  if (typeof rt?.warmup?.iterations !== 'number') problems.push('runtime.warmup must be the normalised warmup config');
  if (typeof i?.host !== 'string') problems.push('host must be a string');
  if (typeof i?.replica !== 'number') problems.push('replica must be a number');
  if (problems.length > 0) throw new Error(`OUTRIDER_WORKER is not a WorkerInit: ${problems.join('; ')}`);
  return init as WorkerInit;
}

/**
 * The CUDA device ordinal to open inside this process. CUDA renumbers the devices listed in
 * CUDA_VISIBLE_DEVICES from 0, so when the supervisor pinned the replica there, `cuda:N`
 * means N's position in that list (0 when N is not listed: the pinned device is the one meant).
 */
export function cudaOrdinal(cfg: OnnxRuntimeConfig, visible: string | undefined): number {
  const list = (visible ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) return cfg.cudaDevice ?? 0;
  if (cfg.cudaDevice === null) return 0;
  const at = list.indexOf(String(cfg.cudaDevice));
  return at >= 0 ? at : 0;
}
