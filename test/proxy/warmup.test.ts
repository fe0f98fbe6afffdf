// The proxy's warmup requests built from a model's KServe v2 metadata (proxy/warmup.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { warmInferences } from '../../proxy/warmup.ts';

test('a batch-1 request from the metadata: dynamic batch dim 1, other dynamic dims 16, fixed dims kept', () => {
  const probes = warmInferences('mlp', {
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 64] }, { name: 'mask', datatype: 'BOOL', shape: [-1, -1] }],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
  });
  assert.equal(probes.length, 1);
  assert.equal(probes[0]!.path, '/v2/models/mlp/infer');
  const body = JSON.parse(probes[0]!.body!) as { inputs: { name: string; shape: number[]; datatype: string; data: unknown[] }[] };
  assert.deepEqual(body.inputs.map((i) => [i.name, i.shape, i.datatype, i.data.length]), [['input', [1, 64], 'FP32', 64], ['mask', [1, 16], 'BOOL', 16]]);
  assert.equal(body.inputs[0]!.data[0], 0.5);
  assert.equal(body.inputs[1]!.data[0], true);
});

test('an embedder also gets an OpenAI embeddings request', () => {
  const probes = warmInferences('embedder', {
    inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1, -1] }],
    outputs: [{ name: 'embeddings', datatype: 'FP32', shape: [-1, 128] }],
  });
  assert.deepEqual(probes.map((p) => p.path), ['/v2/models/embedder/infer', '/v1/embeddings']);
  assert.deepEqual(JSON.parse(probes[0]!.body!).inputs[0].data.slice(0, 2), [1, 1]);
});

test('nothing for inputs it does not synthesise: BYTES, huge fixed shapes, no metadata', () => {
  assert.deepEqual(warmInferences('t', { inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }] }), []);
  assert.deepEqual(warmInferences('big', { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1024, 1024] }] }), []);
  assert.deepEqual(warmInferences('none', {}), []);
});
