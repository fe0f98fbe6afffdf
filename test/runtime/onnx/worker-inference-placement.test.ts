// runtimes[].inference: where session.run executes. `auto` puts a model whose every warm batch
// is well under a millisecond and whose shapes warmup covered (mlp: no dynamic dim but the batch)
// on the worker's HTTP thread, and keeps a model with a dynamic sequence length (embedder) on the
// inference thread; `thread` and `inline` force the choice. Answers are the same either way.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { MODELS, onnxConfig, postJson, startWorker } from './worker-harness.ts';
import type { WorkerHandle } from './worker-harness.ts';

/** The `inference` of the worker's "ready" log line (logged just after it reports ready). */
async function placement(w: WorkerHandle): Promise<string | undefined> {
  const until = performance.now() + 5_000;
  while (performance.now() < until) {
    for (const line of w.stdout().split('\n')) {
      if (!line.includes('"ready"')) continue;
      const rec = JSON.parse(line) as { msg?: string; inference?: string };
      if (rec.msg === 'ready') return rec.inference;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

const input = Array.from({ length: 64 }, (_, k) => Math.sin(k));

async function logits(w: WorkerHandle): Promise<number[]> {
  const res = await postJson(`${w.origin}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: input }] });
  assert.equal(res.status, 200);
  return res.json.outputs[0].data as number[];
}

test('inference: auto runs mlp inline, thread forces the thread, and both answer what session.run does', async () => {
  const reference = await ort.InferenceSession.create(`${MODELS}mlp.onnx`);
  const expected = (await reference.run({ input: new ort.Tensor('float32', Float32Array.from(input), [1, 64]) })).logits!.data as Float32Array;
  await reference.release();
  const [auto, thread] = await Promise.all([
    startWorker(onnxConfig('mlp', 'mlp.onnx', { batching: { maxBatchSize: 4, maxQueueDelay: 0 } })),
    startWorker(onnxConfig('mlp', 'mlp.onnx', { inference: 'thread', batching: { maxBatchSize: 4, maxQueueDelay: 0 } })),
  ]);
  try {
    assert.equal(await placement(auto), 'inline');
    assert.equal(await placement(thread), 'thread');
    for (const w of [auto, thread]) {
      const got = await logits(w);
      assert.equal(got.length, expected.length);
      for (let k = 0; k < got.length; k++) assert.ok(Math.abs(got[k]! - expected[k]!) < 1e-5, `logit ${k}: ${got[k]} vs ${expected[k]}`);
    }
  } finally {
    await Promise.all([auto.kill(), thread.kill()]);
  }
});

test('inference: auto keeps a model with a dynamic sequence length on the thread; inline forces it', async () => {
  const [auto, inline] = await Promise.all([
    startWorker(onnxConfig('embedder', 'embedder.onnx')),
    startWorker(onnxConfig('embedder', 'embedder.onnx', { inference: 'inline' })),
  ]);
  try {
    assert.equal(await placement(auto), 'thread');
    assert.equal(await placement(inline), 'inline');
    const a = await postJson(`${auto.origin}/v1/embeddings`, { input: 'hello world' });
    const b = await postJson(`${inline.origin}/v1/embeddings`, { input: 'hello world' });
    assert.equal(a.status, 200);
    assert.deepEqual(b.json.data[0].embedding, a.json.data[0].embedding);
  } finally {
    await Promise.all([auto.kill(), inline.kill()]);
  }
});

test('inference: auto starts a small model inline and moves it to the thread when its warm batches are slow', async () => {
  // ~270 KiB, fixed shapes, but 1000 chained 256x256 MatMuls: several milliseconds a call even on a fast core.
  const dir = mkdtempSync(join(tmpdir(), 'outrider-slow-model-'));
  const model = join(dir, 'slow.onnx');
  try {
    execFileSync('/usr/bin/python3', [new URL('./fixtures/slow_small.py', import.meta.url).pathname, model, '1000']);
    const w = await startWorker(onnxConfig('slow', model, { batching: { maxBatchSize: 2, maxQueueDelay: 0 }, warmup: { iterations: 3 } }));
    try {
      assert.equal(await placement(w), 'thread', w.stdout());
      const res = await postJson(`${w.origin}/v2/models/slow/infer`, { inputs: [{ name: 'input', shape: [1, 256], datatype: 'FP32', data: new Array(256).fill(0.5) }] });
      assert.equal(res.status, 200);
      assert.equal(res.json.outputs[0].data.length, 256);
    } finally {
      await w.kill();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The `opened` of the worker's "ready" log line: where the session was first opened. */
async function opened(w: WorkerHandle): Promise<string | undefined> {
  await placement(w);
  const line = w.stdout().split('\n').find((l) => l.includes('"msg":"ready"'));
  return line === undefined ? undefined : (JSON.parse(line) as { opened?: string }).opened;
}

test('inference: auto opens a small model inline first, but not a small .onnx whose weights are external data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-external-data-'));
  const model = join(dir, 'mlp.onnx');
  try {
    // The same mlp with every initializer in mlp.onnx.data beside the graph.
    execFileSync('/usr/bin/python3', ['-c', [
      'import onnx, sys',
      'm = onnx.load(sys.argv[1])',
      'onnx.save_model(m, sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True, location="mlp.onnx.data", size_threshold=0)',
    ].join('\n'), `${MODELS}mlp.onnx`, model]);
    const [plain, external] = await Promise.all([
      startWorker(onnxConfig('mlp', 'mlp.onnx', { batching: { maxBatchSize: 4, maxQueueDelay: 0 } })),
      startWorker(onnxConfig('mlp', model, { batching: { maxBatchSize: 4, maxQueueDelay: 0 } })),
    ]);
    try {
      assert.equal(await opened(plain), 'inline');
      assert.equal(await opened(external), 'thread', external.stdout());
      assert.deepEqual(await logits(external), await logits(plain));
    } finally {
      await Promise.all([plain.kill(), external.kill()]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
