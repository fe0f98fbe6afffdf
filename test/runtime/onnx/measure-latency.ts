// Latency figures for the ONNX worker (not a test: numbers to read, run by hand):
//   node_modules/.bin/node test/runtime/onnx/measure-latency.ts [maxBatchSize=32] [trials=5]
// 1. in-process session.run p50 on mlp at batch 1 (onnxruntime-node on the calling thread);
// 2. worker HTTP p50 with one client (sequential keep-alive requests, batch 1);
// 3. after `ready`, the first request at every batch size against the warm p50 at that size,
//    with warmup on (the shipped behaviour) and off (to show what warmup buys).
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { Client } from 'undici';
import { MODELS, onnxConfig, startWorker } from './worker-harness.ts';

const maxBatchSize = Number(process.argv[2] ?? 32);
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => x.toFixed(3);

function body(rows: number): string {
  const data = Array.from({ length: rows * 64 }, (_, k) => Math.sin(k));
  return JSON.stringify({ inputs: [{ name: 'input', shape: [rows, 64], datatype: 'FP32', data }] });
}

async function timed(client: Client, payload: string): Promise<number> {
  const t0 = performance.now();
  const res = await client.request({ method: 'POST', path: '/v2/models/mlp/infer', body: payload, headers: { 'content-type': 'application/json' } });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return performance.now() - t0;
}

// 1. in-process
{
  const session = await ort.InferenceSession.create(`${MODELS}mlp.onnx`, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const x = new Float32Array(64).map((_, k) => Math.sin(k));
  const times: number[] = [];
  for (let k = 0; k < 2000; k++) {
    const t0 = performance.now();
    await session.run({ input: new ort.Tensor('float32', x, [1, 64]) });
    if (k >= 200) times.push(performance.now() - t0);
  }
  console.log(`in-process session.run, mlp, batch 1: p50 ${ms(p50(times))} ms (${times.length} runs)`);
  await session.release();
}

async function firstVsWarm(iterations: number): Promise<{ first: number[]; warm: number[]; one: number[] }> {
  const w = await startWorker(onnxConfig('mlp', 'mlp.onnx', { batching: { maxBatchSize, maxQueueDelay: 0 }, warmup: { iterations } }));
  const client = new Client(w.origin, { pipelining: 1 });
  try {
    // Open the keep-alive connection first: TCP setup is not what warmup is about.
    const t0 = performance.now();
    await (await client.request({ method: 'GET', path: '/v2/health/ready' })).body.text();
    connect.push(performance.now() - t0);
    const first: number[] = [];
    for (let b = 1; b <= maxBatchSize; b++) first.push(await timed(client, payloads[b - 1]!));
    const warm: number[] = [];
    for (let b = 1; b <= maxBatchSize; b++) {
      const t: number[] = [];
      for (let k = 0; k < 20; k++) t.push(await timed(client, payloads[b - 1]!));
      warm.push(p50(t));
    }
    const one: number[] = [];
    for (let k = 0; k < 1000; k++) one.push(await timed(client, payloads[0]!));
    return { first, warm, one };
  } finally {
    await client.close();
    await w.kill();
  }
}

const connect: number[] = [];
const payloads = Array.from({ length: maxBatchSize }, (_, k) => body(k + 1));
// The measuring client's own code must be warm, or its first requests count against the worker.
await firstVsWarm(0);

const TRIALS = Number(process.argv[3] ?? 5);
for (const iterations of [20, 0]) {
  const ratios: number[][] = Array.from({ length: maxBatchSize }, () => []);
  const firsts: number[][] = Array.from({ length: maxBatchSize }, () => []);
  const warms: number[][] = Array.from({ length: maxBatchSize }, () => []);
  const ones: number[] = [];
  connect.length = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    const { first, warm, one } = await firstVsWarm(iterations);
    ones.push(p50(one));
    for (let b = 0; b < maxBatchSize; b++) {
      ratios[b]!.push(first[b]! / warm[b]!);
      firsts[b]!.push(first[b]!);
      warms[b]!.push(warm[b]!);
    }
  }
  console.log(`\nwarmup.iterations=${iterations}, maxBatchSize=${maxBatchSize}, median of ${TRIALS} fresh workers`);
  console.log(`worker HTTP, one client, mlp, batch 1: p50 ${ms(p50(ones))} ms (1000 sequential keep-alive requests per worker)`);
  console.log(`connect + GET /v2/health/ready before the first inference: ${connect.map(ms).join(', ')} ms`);
  console.log('batch  first ms  warm p50 ms  first/warm');
  const med = ratios.map(p50);
  for (let b = 0; b < maxBatchSize; b++) {
    console.log(`${String(b + 1).padStart(5)}  ${ms(p50(firsts[b]!)).padStart(8)}  ${ms(p50(warms[b]!)).padStart(11)}  ${med[b]!.toFixed(2)}`);
  }
  const worst = med.reduce((m, r, k) => (r > med[m]! ? k : m), 0);
  console.log(`worst median first/warm: ${med[worst]!.toFixed(2)} at batch ${worst + 1}; sizes over 2x: ${med.filter((r) => r > 2).length} of ${maxBatchSize}`);
}
