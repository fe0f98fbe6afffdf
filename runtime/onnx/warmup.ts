// Warmup: before the worker reports ready it sends itself real requests over loopback HTTP,
// at every batch size the batcher can form, so the first real request of any size finds
// everything warm: ORT's per-shape state (arena blocks, kernel and, on CUDA, algorithm
// choices) and just as much the JS path (V8 compiles functions lazily on first call and
// optimises them after repeated calls; Node loads parts of its HTTP stack on first use).
// Measured on mlp: a cold first request costs ~25 ms against a ~1 ms warm p50, and almost
// all of it is JS, not ORT (session.run itself is ~0.02 ms), so warming the session alone
// would not be enough.
//
// Runs: `iterations` requests at batch size 1 (the common case), then two at every other
// size (the first builds the shape's state, the second confirms it). Sizes: every size
// 1..maxBatchSize when maxBatchSize <= 64; above that every power of two, every multiple of
// maxBatchSize/16 and maxBatchSize itself (<= 27 sizes: ORT's CPU arena keeps the blocks of
// the largest shape seen, so a size between two warmed ones reuses memory already mapped).
// Embedder models also get /v1/embeddings requests. `iterations: 0` skips warmup. Warmup
// requests start their batch at once rather than waiting out maxQueueDelay, so warmup time
// does not grow with the queue delay.
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { OnnxRuntimeConfig } from '../../proxy/config/types.ts';
import { jsonData, parseInferRequest } from './kserve.ts';
import type { RequestLimits } from './limits.ts';
import { StartError } from './session.ts';
import type { Signature, TensorSpec } from './signature.ts';
import { elementCount, tileRows, type Tensor } from './tensor.ts';

/** Length used for dynamic dims other than the batch dim (a sequence length, typically). */
export const WARMUP_DYNAMIC_DIM = 16;
/** Header that lets the worker's own warmup requests in before it is ready (value: a per-process secret). */
export const WARMUP_HEADER = 'x-outrider-warmup';
const EXHAUSTIVE_UP_TO = 64;

export function warmupBatchSizes(maxBatchSize: number, batchable: boolean): number[] {
  if (!batchable) return [1];
  if (maxBatchSize <= EXHAUSTIVE_UP_TO) return Array.from({ length: maxBatchSize }, (_, k) => k + 1);
  const sizes = new Set<number>([maxBatchSize]);
  for (let p = 1; p < maxBatchSize; p *= 2) sizes.add(p);
  const step = Math.max(1, Math.floor(maxBatchSize / 16));
  for (let s = step; s < maxBatchSize; s += step) sizes.add(s);
  return [...sizes].sort((a, b) => a - b);
}

export interface WarmupTarget {
  readonly port: number;
  readonly host: string;
  readonly token: string;
}

export interface WarmupReport {
  readonly seconds: number;
  readonly requests: number;
  readonly sizes: readonly number[];
}

export async function warmup(cfg: OnnxRuntimeConfig, sig: Signature, limits: RequestLimits, target: WarmupTarget): Promise<WarmupReport> {
  const started = performance.now();
  const iterations = cfg.warmup.iterations;
  if (iterations <= 0) return { seconds: 0, requests: 0, sizes: [] };
  const sample = cfg.warmup.sample === null ? null : await loadSample(cfg.warmup.sample, sig, limits);
  const sizes = warmupBatchSizes(cfg.batching.maxBatchSize, sig.batchable);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const hint = sample === null ? '; give the runtime a real input with warmup.sample' : '';
  let requests = 0;
  try {
    const inferPath = `/v2/models/${encodeURIComponent(cfg.name)}/infer`;
    for (const size of sizes) {
      const body = inferBody(sample !== null ? sample.map((t) => (sig.batchable ? tileRows(t, size) : t)) : synthetic(sig, size), sig);
      for (let k = size === 1 ? iterations : 2; k > 0; k--) {
        await post(agent, target, inferPath, body, `at batch size ${size}`, hint);
        requests++;
      }
    }
    if (sig.embedder !== null) {
      const texts = ['warm up', 'the embeddings path of the onnx worker, with a longer text than the first'];
      const body = JSON.stringify({ input: texts, model: cfg.name });
      for (let k = Math.min(iterations, 5); k > 0; k--) {
        await post(agent, target, '/v1/embeddings', body, 'on /v1/embeddings', '');
        requests++;
      }
    }
  } finally {
    agent.destroy();
  }
  return { seconds: (performance.now() - started) / 1000, requests, sizes };
}

function post(agent: Agent, target: WarmupTarget, path: string, body: string, what: string, hint: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.host, port: target.port, method: 'POST', path, agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [WARMUP_HEADER]: target.token },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => {
        if (res.statusCode === 200) return resolve();
        let message = text;
        try { message = (JSON.parse(text) as { error: { message: string } }).error.message; } catch { /* keep the raw text */ }
        reject(new StartError(`warmup failed ${what}: ${res.statusCode} ${message}${hint}`));
      });
    });
    req.on('error', (e) => reject(new StartError(`warmup failed ${what}: ${e.message}`)));
    req.end(body);
  });
}

function inferBody(tensors: readonly Tensor[], sig: Signature): string {
  return JSON.stringify({
    inputs: tensors.map((t, k) => ({
      name: sig.inputs[k]!.name,
      shape: t.dims,
      datatype: t.type.kserve,
      data: jsonData(t),
    })),
  });
}

async function loadSample(file: string, sig: Signature, limits: RequestLimits): Promise<Tensor[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new StartError(`cannot read warmup.sample ${file}: ${(e as Error).message}`);
  }
  try {
    return [...parseInferRequest(JSON.parse(text), sig, limits).tensors];
  } catch (e) {
    throw new StartError(`warmup.sample ${file} is not a valid KServe v2 infer request for this model: ${(e as Error).message}`);
  }
}

/** Deterministic inputs from the metadata: floats in [-1, 1), small ids (1..31) for integers, masks of 1. */
function synthetic(sig: Signature, rows: number): Tensor[] {
  let state = 0x2545f491;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return sig.inputs.map((spec: TensorSpec) => {
    const dims = spec.dims.map((d, i) => d ?? (i === 0 && sig.batchable ? rows : WARMUP_DYNAMIC_DIM));
    const n = elementCount(dims);
    const data = spec.type.alloc(n);
    const isMask = spec.name === 'attention_mask';
    for (let k = 0; k < n; k++) {
      switch (spec.type.kind) {
        case 'float': data[k] = next() * 2 - 1; break;
        case 'int': data[k] = isMask ? 1 : 1 + Math.floor(next() * 31); break;
        case 'bigint': data[k] = BigInt(isMask ? 1 : 1 + Math.floor(next() * 31)); break;
        case 'bool': data[k] = k & 1; break;
      }
    }
    return { type: spec.type, dims, data };
  });
}
