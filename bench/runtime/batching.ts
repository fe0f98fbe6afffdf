// Batching gain (issue 4): served items/s of a memory-bound model with maxBatchSize 32 against
// the same load with maxBatchSize 1, both runtimes in one Outrider, measured in interleaved
// rounds of the same run. The model is generated here (wide_mlp.py) and its in-process batch-1
// and batch-32 times are measured first: 32 x t(1) / t(32) is the most batching can give.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { bar } from './bench.ts';
import type { BenchContext, ScenarioResult } from './bench.ts';
import { generateWideModel, inProcess, timingAt } from './baseline.ts';
import { closedLoop } from './load.ts';
import type { ClosedLoopResult } from './load.ts';
import { errorLines, histogramTotals, inferPath, startOutrider, waitReady } from './outrider.ts';
import type { HistogramTotals, OutriderInstance } from './outrider.ts';
import { inferBody } from './payload.ts';
import { fmt, formatTable, median, ratio } from './report.ts';

const BATCHED = 'wide-b32';
const UNBATCHED = 'wide-b1';
const MAX_BATCH = 32;
const QUEUE_DELAY = '2ms';
const GAIN_BAR = 4;

interface Run {
  readonly round: number;
  readonly runtime: string;
  readonly maxBatchSize: number;
  readonly load: ClosedLoopResult;
  /** From the worker's histograms over the measured window. */
  readonly meanBatch: number;
  readonly batches: number;
  readonly meanInferenceMs: number;
  readonly meanQueueWaitMs: number;
}

interface Totals {
  readonly batch: HistogramTotals;
  readonly inference: HistogramTotals;
  readonly wait: HistogramTotals;
}

async function totals(o: OutriderInstance, runtime: string): Promise<Totals> {
  const [batch, inference, wait] = await Promise.all([
    histogramTotals(o, 'outrider_batch_size', runtime),
    histogramTotals(o, 'outrider_inference_duration_seconds', runtime),
    histogramTotals(o, 'outrider_queue_wait_seconds', runtime),
  ]);
  return { batch, inference, wait };
}

const per = (a: HistogramTotals, b: HistogramTotals) => (b.count > a.count ? (b.sum - a.sum) / (b.count - a.count) : NaN);

async function measure(ctx: BenchContext, o: OutriderInstance, runtime: string, maxBatchSize: number, round: number): Promise<Run> {
  const { opts } = ctx;
  const url = `${o.data}${inferPath(runtime)}`;
  // The metrics are read at the edges of the measured window, while the clients keep running.
  const window: { before: Promise<Totals> | null } = { before: null };
  const startTimer = setTimeout(() => {
    window.before = totals(o, runtime);
    // Awaited below; until then a failed read must not count as an unhandled rejection.
    window.before.catch(() => undefined);
  }, opts.warmup * 1000);
  let load: ClosedLoopResult;
  try {
    load = await closedLoop(url, inferBody(1), opts.clients, opts.warmup, opts.duration);
  } finally {
    clearTimeout(startTimer);
  }
  const after = await totals(o, runtime);
  const start = await (window.before ?? Promise.resolve(after));
  const run: Run = {
    round, runtime, maxBatchSize, load,
    meanBatch: per(start.batch, after.batch),
    batches: after.batch.count - start.batch.count,
    meanInferenceMs: per(start.inference, after.inference) * 1000,
    meanQueueWaitMs: per(start.wait, after.wait) * 1000,
  };
  ctx.say(`  round ${round} maxBatchSize ${String(maxBatchSize).padStart(2)}: ${fmt(load.perSecond, 1)} items/s, mean batch ${fmt(run.meanBatch, 1)}, ` +
    `p50 ${fmt(load.p50Us / 1000, 1)} ms${load.failed > 0 ? `, ${load.failed} FAILED (${load.firstError})` : ''}`);
  return run;
}

export async function batchingScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const t0 = performance.now();
  const { opts } = ctx;
  const model = await generateWideModel(ctx, opts.hidden);
  const mb = model.weightBytes / 1_048_576;
  ctx.say(`  model: ${[64, ...model.hidden, 10].join('-')} Relu MLP, ${fmt(model.weights / 1e6, 1)} M weights (${fmt(mb, 0)} MiB)`);
  const base = await inProcess(ctx, { model: model.file, batches: [1, MAX_BATCH], iterations: opts.quick ? 20 : 60, warmup: 5 });
  const t1 = timingAt(base, 1);
  const t32 = timingAt(base, MAX_BATCH);
  const ceiling = (MAX_BATCH * t1.p50Us) / t32.p50Us;
  ctx.say(`  in-process session.run (threads 1): batch 1 p50 ${fmt(t1.p50Us / 1000, 2)} ms (${fmt(model.weightBytes / (t1.p50Us / 1e6) / 1e9, 1)} GB/s of weights), ` +
    `batch ${MAX_BATCH} p50 ${fmt(t32.p50Us / 1000, 2)} ms: at most ${ratio(ceiling)} items/s from batching`);

  const dir = join(ctx.tmp, 'batching');
  mkdirSync(dir, { recursive: true });
  const common = { model: model.file, replicas: 1, maxQueueDelay: QUEUE_DELAY, maxQueue: 512, warmupIterations: 5 };
  const o = await startOutrider(ctx.processes, {
    label: 'batching', dir, timeout: '60s',
    runtimes: [{ ...common, name: BATCHED, maxBatchSize: MAX_BATCH }, { ...common, name: UNBATCHED, maxBatchSize: 1 }],
  }, ctx.placement.proxyCpu);
  const runs: Run[] = [];
  let logErrors: string[];
  try {
    await waitReady(o, 300_000);
    for (let round = 1; round <= opts.rounds; round++) {
      runs.push(await measure(ctx, o, BATCHED, MAX_BATCH, round));
      runs.push(await measure(ctx, o, UNBATCHED, 1, round));
    }
    logErrors = errorLines(o);
  } finally {
    await ctx.processes.stop(o.child, 20_000);
  }

  const ratios = Array.from({ length: opts.rounds }, (_, k) => {
    const b = runs.find((r) => r.round === k + 1 && r.runtime === BATCHED)!;
    const u = runs.find((r) => r.round === k + 1 && r.runtime === UNBATCHED)!;
    return b.load.perSecond / u.load.perSecond;
  });
  const gain = median(ratios);
  const failed = runs.reduce((n, r) => n + r.load.failed, 0);
  const byConfig = [BATCHED, UNBATCHED].map((runtime) => {
    const mine = runs.filter((r) => r.runtime === runtime);
    return {
      runtime,
      maxBatchSize: mine[0]!.maxBatchSize,
      itemsPerSecond: median(mine.map((r) => r.load.perSecond)),
      meanBatch: median(mine.map((r) => r.meanBatch)),
      meanInferenceMs: median(mine.map((r) => r.meanInferenceMs)),
      meanQueueWaitMs: median(mine.map((r) => r.meanQueueWaitMs)),
      p50Ms: median(mine.map((r) => r.load.p50Us)) / 1000,
      p99Ms: median(mine.map((r) => r.load.p99Us)) / 1000,
      failed: mine.reduce((n, r) => n + r.load.failed, 0),
    };
  });
  const lines = [
    ...formatTable(['maxBatchSize', 'items/s', 'x maxBatchSize 1', 'mean batch', 'inference ms/batch', 'queue wait ms', 'p50 ms', 'p99 ms', 'failed'],
      byConfig.map((c) => [String(c.maxBatchSize), fmt(c.itemsPerSecond, 1), c.runtime === BATCHED ? ratio(gain) : '1.00x', fmt(c.meanBatch, 1),
        fmt(c.meanInferenceMs, 2), fmt(c.meanQueueWaitMs, 2), fmt(c.p50Ms, 1), fmt(c.p99Ms, 1), String(c.failed)])),
    '',
    `model ${[64, ...model.hidden, 10].join('-')} (${fmt(mb, 0)} MiB of FP32 weights), generated for this run; in-process (session.run, threads 1): ` +
      `batch 1 p50 ${fmt(t1.p50Us / 1000, 2)} ms, batch ${MAX_BATCH} p50 ${fmt(t32.p50Us / 1000, 2)} ms, so batching can give at most ${ratio(ceiling)}.`,
    `load: ${opts.clients} closed-loop clients (batch-1 requests) per run, ${opts.warmup} s warm-up + ${opts.duration} s measured; ${opts.rounds} interleaved round(s); ` +
      `x maxBatchSize 1: per-round ratio, median (${ratios.map((r) => ratio(r)).join(', ')}). Both runtimes: 1 replica, threads 1, maxQueueDelay ${QUEUE_DELAY}.`,
    'mean batch, inference and queue wait: outrider_batch_size, outrider_inference_duration_seconds, outrider_queue_wait_seconds (/metrics) over the measured windows.',
  ];
  if (logErrors.length > 0) lines.push(`WARNING: outrider logged ${logErrors.length} error line(s); the first: ${logErrors[0]!.slice(0, 300)}`);
  const bars = [bar('items/s, maxBatchSize 32 vs 1', gain, 'x', { atLeast: GAIN_BAR })];
  if (failed > 0) bars.push(bar('failed requests under the batching load', failed, 'requests', { atMost: 0 }));
  return {
    scenario: 'batching',
    seconds: (performance.now() - t0) / 1000,
    lines,
    bars,
    figures: { model: { ...model, file: undefined }, inProcess: base, ceiling, gain, ratios, byConfig, runs },
  };
}
