// KServe v2 paths sent to a single-model runtime name that runtime's model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { singleModelPath } from '../../../policies/split/model-path.ts';

test('the model segment becomes the runtime name; a version segment is dropped', () => {
  const r = singleModelPath('mlp-next');
  assert.equal(r('/v2/models/mlp/infer'), '/v2/models/mlp-next/infer');
  assert.equal(r('/v2/models/mlp/versions/1/infer?x=1'), '/v2/models/mlp-next/infer?x=1');
  assert.equal(r('/v2/models/mlp'), '/v2/models/mlp-next');
  assert.equal(r('/v2/models/mlp/ready'), '/v2/models/mlp-next/ready');
  assert.equal(r('/v2/models/mlp-next/infer'), '/v2/models/mlp-next/infer');
});

test('other paths pass as sent', () => {
  const r = singleModelPath('m');
  for (const p of ['/v1/embeddings', '/v2/health/ready', '/v2/modelsx/a/infer', '/other/v2/models/a/infer', '/v2/models/']) assert.equal(r(p), p);
});
