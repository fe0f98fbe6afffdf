// /v1/embeddings on the bundled embedder through the real worker: strings, arrays, token
// ids, order, unit norm, agreement with an in-process session, and padding invariance both
// inside one request and across requests the batcher joins.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { tokenize } from '../../../runtime/onnx/tokenizer.ts';
import { metricValue, MODELS, onnxConfig, postJson, startWorker, type WorkerHandle } from './worker-harness.ts';

let w: WorkerHandle;
let reference: ort.InferenceSession;

before(async () => {
  [w, reference] = await Promise.all([
    // A wide queue delay so that concurrent requests below are sure to share a batch.
    startWorker(onnxConfig('embedder', 'embedder.onnx', { batching: { maxBatchSize: 8, maxQueueDelay: 40 } })),
    ort.InferenceSession.create(`${MODELS}embedder.onnx`),
  ]);
});
after(async () => {
  await w?.kill();
  await reference?.release();
});

type Emb = { object: string; index: number; embedding: number[] };
const embed = (body: unknown) => postJson(`${w.origin}/v1/embeddings`, body);
const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
function near(a: number[], b: ArrayLike<number>, tol = 1e-6): void {
  assert.equal(a.length, b.length);
  for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k]! - b[k]!) <= tol, `element ${k}: ${a[k]} vs ${b[k]}`);
}

async function alone(ids: number[]): Promise<Float32Array> {
  const row = ids.length === 0 ? [0] : ids;
  const out = await reference.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(row.map(BigInt)), [1, row.length]) });
  return out.embeddings!.data as Float32Array;
}

const texts = ['The quick brown fox', 'jumps over the lazy dog, again and again and again', 'Ünïcode 東京 42', ''];

test('a string -> one unit-norm embedding equal to the model run on its tokens', async () => {
  const r = await embed({ input: texts[0], model: 'anything' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.object, 'list');
  assert.equal(r.json.model, 'embedder');
  assert.deepEqual(r.json.usage, { prompt_tokens: 4, total_tokens: 4 });
  const [d] = r.json.data as Emb[];
  assert.equal(d!.object, 'embedding');
  assert.equal(d!.index, 0);
  assert.equal(d!.embedding.length, 128);
  assert.ok(Math.abs(norm(d!.embedding) - 1) < 1e-5);
  near(d!.embedding, await alone(tokenize(texts[0]!)));
});

test('an array keeps its order; items of different lengths are padded without changing results', async () => {
  const r = await embed({ input: texts });
  assert.equal(r.status, 200);
  const data = r.json.data as Emb[];
  assert.deepEqual(data.map((d) => d.index), [0, 1, 2, 3]);
  for (let k = 0; k < texts.length; k++) {
    assert.ok(Math.abs(norm(data[k]!.embedding) - 1) < 1e-5, `item ${k} norm`);
    near(data[k]!.embedding, await alone(tokenize(texts[k]!)));
  }
  assert.equal(r.json.usage.prompt_tokens, texts.reduce((n, t) => n + tokenize(t).length, 0));
  // The empty text is the model's fixed "empty" embedding, still unit norm.
  const empty = await embed({ input: '' });
  near(empty.json.data[0].embedding, data[3]!.embedding, 0);
});

test('token-id arrays are accepted as input, and base64 encoding is float32 little-endian', async () => {
  const ids = tokenize(texts[1]!);
  const r = await embed({ input: [ids, tokenize(texts[0]!)] });
  assert.equal(r.status, 200);
  near(r.json.data[0].embedding, await alone(ids));
  const single = await embed({ input: ids, encoding_format: 'base64' });
  const bytes = Buffer.from(single.json.data[0].embedding as string, 'base64');
  const decoded = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  near([...decoded], await alone(ids));
});

test('concurrent requests of different lengths share a batch and get the same answers as alone', async () => {
  const before = await w.metrics();
  const batches0 = metricValue(before, 'outrider_batch_size', '_count');
  const rows0 = metricValue(before, 'outrider_batch_size', '_sum');
  const inputs = ['short', 'a noticeably longer sentence with many more tokens in it than the first', 'mid length text here'];
  const results = await Promise.all(inputs.map((input) => embed({ input })));
  const m = await w.metrics();
  assert.equal(metricValue(m, 'outrider_batch_size', '_sum') - rows0, 3);
  assert.equal(metricValue(m, 'outrider_batch_size', '_count') - batches0, 1, 'the three requests ran as one padded batch');
  for (let k = 0; k < inputs.length; k++) {
    assert.equal(results[k]!.status, 200);
    near(results[k]!.json.data[0].embedding, await alone(tokenize(inputs[k]!)));
  }
});

test('KServe infer on the embedder takes int64 input_ids [N,S] of any S', async () => {
  const r = await postJson(`${w.origin}/v2/models/embedder/infer`, { inputs: [{ name: 'input_ids', shape: [1, 3], datatype: 'INT64', data: [5, 6, 7] }] });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.outputs[0].shape, [1, 128]);
  near(r.json.outputs[0].data, await alone([5, 6, 7]));
  const meta = await (await fetch(`${w.origin}/v2/models/embedder`)).json() as { inputs: unknown };
  assert.deepEqual(meta.inputs, [{ name: 'input_ids', datatype: 'INT64', shape: [-1, -1] }]);
});

test('inference runs off the HTTP thread: health checks are answered while a long batch computes', async () => {
  const { Client } = await import('undici');
  const rows = 64;
  const len = 4096;
  const body = { inputs: [{ name: 'input_ids', shape: [rows, len], datatype: 'INT64', data: Array.from({ length: rows * len }, (_, k) => 1 + (k % 4000)) }] };
  const before = await w.metrics();
  const client = new Client(w.origin);
  let done = false;
  let answered = 0;
  let worst = 0;
  try {
    const big = postJson(`${w.origin}/v2/models/embedder/infer`, body).finally(() => { done = true; });
    while (!done) {
      const t0 = performance.now();
      const res = await client.request({ method: 'GET', path: '/v2/health/live' });
      await res.body.text();
      worst = Math.max(worst, performance.now() - t0);
      answered++;
    }
    assert.equal((await big).status, 200);
  } finally {
    await client.close();
  }
  const after = await w.metrics();
  const computeMs = 1000 * (metricValue(after, 'outrider_inference_duration_seconds', '_sum') - metricValue(before, 'outrider_inference_duration_seconds', '_sum'));
  assert.ok(answered >= 3, `${answered} health answers during the request`);
  // On the HTTP thread, one health check would have waited for the whole session.run.
  assert.ok(worst < computeMs / 2, `slowest health check ${worst.toFixed(1)} ms while session.run took ${computeMs.toFixed(1)} ms`);
});
