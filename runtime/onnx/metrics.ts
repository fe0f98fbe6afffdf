// The worker's own prom-client registry (SPEC §6 names, label `runtime` only). The supervisor
// collects every replica's registry over IPC and merges them with AggregatorRegistry.aggregate,
// which adds histograms bucket by bucket: the buckets below are constants so that every worker,
// whatever its config, reports the same ones. Gauges aggregate by sum (total queued requests).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchObserver, DropReason } from './batcher.ts';

export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
export const QUEUE_WAIT_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
export const INFERENCE_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface WorkerMetrics {
  readonly registry: Registry;
  /** Hooks the batcher calls; the batcher itself does not know about prom-client. */
  readonly observer: BatchObserver;
  /** Forgets everything observed so far (warmup traffic). */
  reset(): void;
}

export function createWorkerMetrics(runtime: string): WorkerMetrics {
  const registry = new Registry();
  const labels = { runtime };
  const batchSize = new Histogram({
    name: 'outrider_batch_size',
    help: 'Rows per batch run by an ONNX worker',
    labelNames: ['runtime'],
    buckets: [...BATCH_SIZE_BUCKETS],
    registers: [registry],
  });
  const queueWait = new Histogram({
    name: 'outrider_queue_wait_seconds',
    help: 'Time a request waited in an ONNX worker queue before its batch started',
    labelNames: ['runtime'],
    buckets: [...QUEUE_WAIT_BUCKETS],
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: 'outrider_queue_depth',
    help: 'Requests waiting in ONNX worker queues',
    labelNames: ['runtime'],
    registers: [registry],
  });
  const inference = new Histogram({
    name: 'outrider_inference_duration_seconds',
    help: 'Duration of one session.run over a batch',
    labelNames: ['runtime'],
    buckets: [...INFERENCE_BUCKETS],
    registers: [registry],
  });
  // Not in SPEC §6: requests that left a queue without being computed, by bounded reason.
  const dropped = new Counter({
    name: 'outrider_queue_dropped_total',
    help: 'Requests an ONNX worker refused or removed from its queue without computing them',
    labelNames: ['runtime', 'reason'],
    registers: [registry],
  });
  // Series exist from the start, so a scrape shows 0 rather than nothing.
  const zero = () => {
    queueDepth.set(labels, 0);
    for (const reason of ['deadline', 'cancelled', 'overloaded'] satisfies DropReason[]) dropped.inc({ runtime, reason }, 0);
  };
  zero();
  const observer: BatchObserver = {
    depth: (n) => queueDepth.set(labels, n),
    batch: (rows) => batchSize.observe(labels, rows),
    waited: (seconds) => queueWait.observe(labels, seconds),
    inference: (seconds) => inference.observe(labels, seconds),
    dropped: (reason) => dropped.inc({ runtime, reason }),
  };
  return {
    registry,
    observer,
    reset: () => {
      registry.resetMetrics();
      zero();
    },
  };
}
