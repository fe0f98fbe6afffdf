// The in-process baseline: `session.run` on the model, called straight from JavaScript with
// the session options the ONNX worker uses (runtime/onnx/session-thread.ts), in a child
// process pinned where Outrider's workers run. Prints one JSON line.
//   inprocess.ts --model FILE --threads 1 --batches 1,32 --iterations 2000 --warmup 200
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';

export interface BatchTiming {
  readonly batch: number;
  readonly iterations: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly meanUs: number;
  readonly minUs: number;
}

export interface InProcessResult {
  readonly model: string;
  readonly threads: number;
  readonly loadMs: number;
  /** The first call on the fresh session, batch = the first of --batches: what warmup has to absorb. */
  readonly firstCallUs: number;
  readonly timings: readonly BatchTiming[];
}

// Deterministic inputs in [-1, 1): the timings must not depend on a random draw.
function input(rows: number, width: number): Float32Array {
  const data = new Float32Array(rows * width);
  let state = 0x9e3779b9;
  for (let k = 0; k < data.length; k++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[k] = (state / 2 ** 32) * 2 - 1;
  }
  return data;
}

function sortedPercentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

async function time(session: ort.InferenceSession, name: string, width: number, batch: number, iterations: number, warmup: number): Promise<BatchTiming> {
  const feeds = { [name]: new ort.Tensor('float32', input(batch, width), [batch, width]) };
  for (let k = 0; k < warmup; k++) await session.run(feeds);
  const us: number[] = new Array(iterations);
  for (let k = 0; k < iterations; k++) {
    const t0 = performance.now();
    await session.run(feeds);
    us[k] = (performance.now() - t0) * 1000;
  }
  const sorted = us.sort((a, b) => a - b);
  return {
    batch,
    iterations,
    p50Us: sortedPercentile(sorted, 50),
    p90Us: sortedPercentile(sorted, 90),
    meanUs: sorted.reduce((s, v) => s + v, 0) / sorted.length,
    minUs: sorted[0] as number,
  };
}

async function main(argv: string[]): Promise<InProcessResult> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      model: { type: 'string' },
      threads: { type: 'string', default: '1' },
      batches: { type: 'string', default: '1' },
      iterations: { type: 'string', default: '1000' },
      warmup: { type: 'string', default: '100' },
    },
  });
  const whole = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!/^[0-9]+$/.test(raw) || n < min) throw new Error(`--${name} must be a whole number >= ${min}, got "${raw}"`);
    return n;
  };
  if (values.model === undefined) throw new Error('--model is required');
  const threads = whole('threads', values.threads, 1);
  const batches = values.batches.split(',').map((b) => whole('batches', b, 1));
  const iterations = whole('iterations', values.iterations, 1);
  const warmup = whole('warmup', values.warmup, 0);
  ort.env.logLevel = 'fatal';
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(values.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const loadMs = performance.now() - t0;
  const meta = session.inputMetadata[0];
  if (meta === undefined || !meta.isTensor || meta.type !== 'float32' || meta.shape.length !== 2 || typeof meta.shape[1] !== 'number') {
    throw new Error(`${values.model}: expected one float32 input of shape [N, width]`);
  }
  const width = meta.shape[1];
  const firstBatch = batches[0] as number;
  const first = { [meta.name]: new ort.Tensor('float32', input(firstBatch, width), [firstBatch, width]) };
  const t1 = performance.now();
  await session.run(first);
  const firstCallUs = (performance.now() - t1) * 1000;
  const timings: BatchTiming[] = [];
  for (const batch of batches) timings.push(await time(session, meta.name, width, batch, iterations, warmup));
  await session.release();
  return { model: values.model, threads, loadMs, firstCallUs, timings };
}

if (import.meta.main) {
  main(process.argv.slice(2)).then((r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }, (e: unknown) => {
    process.stderr.write(`inprocess: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
