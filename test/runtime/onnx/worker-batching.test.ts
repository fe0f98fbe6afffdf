// Dynamic batching in the real worker: concurrent requests share batches and get their own
// rows back; work whose deadline passes or whose client leaves is dropped without being
// computed; a full queue answers 503 overloaded with Retry-After. Batch counts come from the
// worker's own metrics over IPC.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { metricValue, MODELS, onnxConfig, postJson, startWorker, type WorkerHandle } from './worker-harness.ts';

const workers: WorkerHandle[] = [];
after(async () => {
  await Promise.all(workers.map((w) => w.kill()));
});

async function worker(batching: { maxBatchSize: number; maxQueueDelay: number; maxQueue?: number }): Promise<WorkerHandle> {
  const w = await startWorker(onnxConfig('mlp', 'mlp.onnx', { batching, warmup: { iterations: 1 } }));
  workers.push(w);
  return w;
}

const rowsOf = (rows: number, seed: number) => Array.from({ length: rows * 64 }, (_, k) => Math.cos(k * 0.11 + seed));
const infer = (w: WorkerHandle, rows: number, seed: number, headers: Record<string, string> = {}) =>
  postJson(`${w.origin}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [rows, 64], datatype: 'FP32', data: rowsOf(rows, seed) }] }, headers);
const batches = async (w: WorkerHandle) => {
  const m = await w.metrics();
  return {
    count: metricValue(m, 'outrider_batch_size', '_count'),
    rows: metricValue(m, 'outrider_batch_size', '_sum'),
    waits: metricValue(m, 'outrider_queue_wait_seconds', '_count'),
    inferences: metricValue(m, 'outrider_inference_duration_seconds', '_count'),
    depth: metricValue(m, 'outrider_queue_depth'),
    deadline: metricValue(m, 'outrider_queue_dropped_total', '', { reason: 'deadline' }),
    cancelled: metricValue(m, 'outrider_queue_dropped_total', '', { reason: 'cancelled' }),
    overloaded: metricValue(m, 'outrider_queue_dropped_total', '', { reason: 'overloaded' }),
  };
};

// Each case has its own worker; they run side by side to keep the file short.
describe('onnx worker batching', { concurrency: 5 }, () => {
  test('16 concurrent requests with maxBatchSize 8 share batches; each gets its own rows', async () => {
    const w = await worker({ maxBatchSize: 8, maxQueueDelay: 50 });
    assert.deepEqual(await batches(w), { count: 0, rows: 0, waits: 0, inferences: 0, depth: 0, deadline: 0, cancelled: 0, overloaded: 0 }, 'warmup traffic is not counted');
    const sizes = [1, 1, 2, 1, 3, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1];
    const results = await Promise.all(sizes.map((rows, k) => infer(w, rows, k)));
    const b = await batches(w);
    assert.equal(b.rows, 21);
    assert.ok(b.count < sizes.length, `${b.count} batches for ${sizes.length} requests`);
    assert.ok(b.count >= 3, 'no batch holds more than 8 rows');
    assert.equal(b.waits, sizes.length);
    assert.equal(b.inferences, b.count);
    assert.equal(b.depth, 0);

    const reference = await ort.InferenceSession.create(`${MODELS}mlp.onnx`);
    try {
      for (let k = 0; k < sizes.length; k++) {
        assert.equal(results[k]!.status, 200);
        const out = results[k]!.json.outputs[0];
        assert.deepEqual(out.shape, [sizes[k], 10]);
        const want = (await reference.run({ input: new ort.Tensor('float32', Float32Array.from(rowsOf(sizes[k]!, k)), [sizes[k]!, 64]) })).logits!.data as Float32Array;
        for (let j = 0; j < want.length; j++) assert.ok(Math.abs(out.data[j] - want[j]!) < 1e-5, `request ${k} element ${j}`);
      }
    } finally {
      await reference.release();
    }
  });

  test('a request larger than maxBatchSize runs alone', async () => {
    const w = await worker({ maxBatchSize: 4, maxQueueDelay: 20 });
    const [big, small] = await Promise.all([infer(w, 9, 1), infer(w, 1, 2)]);
    assert.equal(big.status, 200);
    assert.deepEqual(big.json.outputs[0].shape, [9, 10]);
    assert.equal(small.status, 200);
    const b = await batches(w);
    assert.equal(b.count, 2);
    assert.equal(b.rows, 10);
  });

  test('a deadline that passes in the queue -> 504 at the deadline, never computed', async () => {
    // The batch would only start after 5 s: a 504 long before that came from the deadline.
    const w = await worker({ maxBatchSize: 8, maxQueueDelay: 5000 });
    const t0 = performance.now();
    const r = await infer(w, 1, 1, { 'x-timeout-ms': '30', 'x-request-id': 'late-1' });
    const elapsed = performance.now() - t0;
    assert.equal(r.status, 504);
    assert.equal(r.json.error.code, 'deadline_exceeded');
    assert.equal(r.json.error.requestId, 'late-1');
    assert.ok(elapsed < 2500, `answered after ${elapsed.toFixed(0)} ms`);
    const expired = await infer(w, 1, 1, { 'x-timeout-ms': '1' });
    assert.equal(expired.status, 504);
    const b = await batches(w);
    assert.equal(b.count, 0, 'no batch ran');
    assert.equal(b.inferences, 0);
    assert.equal(b.deadline, 2);
    assert.equal(b.depth, 0, 'both left the queue');
    // A full batch starts at once, well within a generous deadline.
    const ok = await infer(w, 8, 1, { 'x-timeout-ms': '5000' });
    assert.equal(ok.status, 200);
    assert.equal((await batches(w)).count, 1);
  });

  test('a client that disconnects while queued is removed without being computed', async () => {
    const w = await worker({ maxBatchSize: 8, maxQueueDelay: 5000 });
    const ac = new AbortController();
    const pending = fetch(`${w.origin}/v2/models/mlp/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: rowsOf(1, 1) }] }),
      signal: ac.signal,
    }).catch((e: Error) => e);
    for (let k = 0; k < 200 && (await batches(w)).depth === 0; k++) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await batches(w)).depth, 1, 'queued');
    ac.abort();
    assert.ok((await pending) instanceof Error);
    for (let k = 0; k < 200 && (await batches(w)).cancelled === 0; k++) await new Promise((r) => setTimeout(r, 10));
    const b = await batches(w);
    assert.equal(b.cancelled, 1);
    assert.equal(b.depth, 0, 'it left the queue');
    assert.equal(b.count, 0, 'nothing was computed for it');
  });

  test('a full queue -> 503 overloaded with Retry-After; the queued requests still complete', async () => {
    const w = await worker({ maxBatchSize: 64, maxQueueDelay: 2000, maxQueue: 3 });
    const queued = [infer(w, 1, 1), infer(w, 1, 2), infer(w, 1, 3)];
    for (let k = 0; k < 200 && (await batches(w)).depth < 3; k++) await new Promise((r) => setTimeout(r, 10));
    const r = await infer(w, 1, 4, { 'x-request-id': 'full-1' });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(r.json.error.code, 'overloaded');
    assert.equal(r.json.error.requestId, 'full-1');
    assert.match(r.json.error.message, /queue is full \(3 requests\)/);
    for (const q of await Promise.all(queued)) assert.equal(q.status, 200);
    const b = await batches(w);
    assert.equal(b.overloaded, 1);
    assert.equal(b.count, 1);
    assert.equal(b.rows, 3);
  });
});
