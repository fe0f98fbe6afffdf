// The real worker process over real IPC and HTTP: KServe v2 routes, results against an
// in-process onnxruntime session on the same model, request ids, 404 / 405.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { MODELS, onnxConfig, postJson, startWorker, type WorkerHandle } from './worker-harness.ts';

let w: WorkerHandle;
let reference: ort.InferenceSession;

before(async () => {
  [w, reference] = await Promise.all([
    startWorker(onnxConfig('mlp', 'mlp.onnx', { version: '3', batching: { maxBatchSize: 4, maxQueueDelay: 0 } })),
    ort.InferenceSession.create(`${MODELS}mlp.onnx`),
  ]);
});
after(async () => {
  await w?.kill();
  await reference?.release();
});

const input = (rows: number, seed = 1) => Array.from({ length: rows * 64 }, (_, k) => Math.sin(k * 0.37 + seed));

async function expected(data: number[], rows: number): Promise<Float32Array> {
  const out = await reference.run({ input: new ort.Tensor('float32', Float32Array.from(data), [rows, 64]) });
  return out.logits!.data as Float32Array;
}

function close(actual: number[], want: Float32Array): void {
  assert.equal(actual.length, want.length);
  for (let k = 0; k < want.length; k++) assert.ok(Math.abs(actual[k]! - want[k]!) < 1e-5, `element ${k}: ${actual[k]} vs ${want[k]}`);
}

test('infer returns logits [N,10] equal to an in-process session, deterministically', async () => {
  for (const rows of [1, 3, 7]) {
    const data = input(rows, rows);
    const body = { id: `r${rows}`, inputs: [{ name: 'input', shape: [rows, 64], datatype: 'FP32', data }] };
    const a = await postJson(`${w.origin}/v2/models/mlp/infer`, body);
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.equal(a.json.model_name, 'mlp');
    assert.equal(a.json.model_version, '3');
    assert.equal(a.json.id, `r${rows}`);
    assert.deepEqual(a.json.outputs.map((o: { name: string; datatype: string; shape: number[] }) => [o.name, o.datatype, o.shape]), [['logits', 'FP32', [rows, 10]]]);
    close(a.json.outputs[0].data, await expected(data, rows));
    const b = await postJson(`${w.origin}/v2/models/mlp/versions/3/infer`, body);
    assert.deepEqual(b.json.outputs, a.json.outputs, 'same input, same bits');
  }
});

test('nested data and the outputs filter', async () => {
  const data = input(2);
  const nested = [data.slice(0, 64), data.slice(64)];
  const r = await postJson(`${w.origin}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [2, 64], datatype: 'FP32', data: nested }], outputs: [{ name: 'logits' }] });
  assert.equal(r.status, 200);
  assert.equal(r.json.id, undefined);
  close(r.json.outputs[0].data, await expected(data, 2));
});

test('metadata, readiness and liveness', async () => {
  const meta = await (await fetch(`${w.origin}/v2/models/mlp`)).json();
  assert.deepEqual(meta, {
    name: 'mlp', versions: ['3'], platform: 'onnxruntime',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 64] }],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
  });
  assert.deepEqual(await (await fetch(`${w.origin}/v2/models/mlp/versions/3`)).json(), meta);
  assert.deepEqual(await (await fetch(`${w.origin}/v2/models/mlp/ready`)).json(), { name: 'mlp', ready: true });
  assert.equal((await fetch(`${w.origin}/v2/models/mlp/versions/3/ready`)).status, 200);
  assert.equal((await fetch(`${w.origin}/v2/health/live`)).status, 200);
  assert.equal((await fetch(`${w.origin}/v2/health/ready`)).status, 200);
  assert.equal((await fetch(`${w.origin}/v2/health/ready`, { method: 'HEAD' })).status, 200);
});

test('unknown model, version or path -> 404 not_found; wrong method -> 405 with Allow', async () => {
  const body = { inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: input(1) }] };
  const cases: [string, RegExp][] = [
    ['/v2/models/resnet/infer', /unknown model "resnet"; this runtime serves "mlp"/],
    ['/v2/models/mlp/versions/1/infer', /unknown version "1" of model "mlp"; available: "3"/],
    ['/v2/models/mlp/explain', /no such endpoint/],
    ['/v1/embeddings', /not an embedding model/],
    ['/nope', /no such endpoint/],
  ];
  for (const [path, message] of cases) {
    const r = await postJson(`${w.origin}${path}`, body);
    assert.equal(r.status, 404, path);
    assert.equal(r.json.error.code, 'not_found');
    assert.match(r.json.error.message, message);
  }
  const get = await fetch(`${w.origin}/v2/models/mlp/infer`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  assert.equal(((await get.json()) as { error: { code: string } }).error.code, 'method_not_allowed');
  const post = await postJson(`${w.origin}/v2/health/ready`, {});
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
});

test('x-request-id: a valid one is echoed in the header and error body, an invalid one replaced', async () => {
  const ok = await postJson(`${w.origin}/v2/models/mlp/infer`, '{', { 'x-request-id': 'abc-123.X:y_z' });
  assert.equal(ok.status, 400);
  assert.equal(ok.headers.get('x-request-id'), 'abc-123.X:y_z');
  assert.equal(ok.json.error.requestId, 'abc-123.X:y_z');
  const replaced = await postJson(`${w.origin}/v2/models/mlp/infer`, '{', { 'x-request-id': 'has spaces in it' });
  const id = replaced.headers.get('x-request-id')!;
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(replaced.json.error.requestId, id);
  const fresh = await fetch(`${w.origin}/v2/health/live`);
  assert.match(fresh.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
});

test('keep-alive: many requests reuse one connection', async () => {
  const { Client } = await import('undici');
  const client = new Client(w.origin);
  let connects = 0;
  client.on('connect', () => { connects++; });
  try {
    for (let k = 0; k < 20; k++) {
      const res = await client.request({ method: 'GET', path: '/v2/health/live' });
      await res.body.text();
      assert.equal(res.statusCode, 200);
    }
    assert.equal(connects, 1);
  } finally {
    await client.close();
  }
});
