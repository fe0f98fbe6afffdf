// Output comparison of a primary and a shadow answer, per `compare` kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TOLERANCE, compareBodies } from '../../../policies/shadow/compare.ts';
import type { CompareKind } from '../../../policies/shadow/compare.ts';

const kserve = (data: number[], shape = [data.length / 3, 3], name = 'logits') =>
  Buffer.from(JSON.stringify({ model_name: 'm', outputs: [{ name, shape, datatype: 'FP32', data }] }));
const openai = (vs: number[][]) => Buffer.from(JSON.stringify({ object: 'list', data: vs.map((embedding, index) => ({ object: 'embedding', index, embedding })) }));
const cmp = (kind: CompareKind, a: Buffer, b: Buffer) => compareBodies(kind, a, b, DEFAULT_TOLERANCE[kind]);

test('argmax: divergence is the share of rows whose argmax differs', () => {
  const p = kserve([0.1, 0.9, 0, 1, 0, 0, 0, 0, 2, 5, 4, 3]);
  assert.deepEqual(cmp('argmax', p, kserve([0.2, 0.8, 0.1, 0.9, 0.1, 0, 0, 0.1, 1.9, 4, 5, 3])), { result: 'mismatch', divergence: 0.25, detail: 'argmax differs on 1 of 4 rows' });
  assert.deepEqual(cmp('argmax', p, kserve([0, 1, 0, 3, 2, 1, 0, 0, 9, 9, 1, 1])), { result: 'match', divergence: 0, detail: null });
});

test('argmax: nested data, and outputs paired by name whatever their order', () => {
  const two = (a: number[][], b: number[][], flip = false) => {
    const outs = [{ name: 'x', shape: [a.length, a[0]!.length], datatype: 'FP32', data: a }, { name: 'y', shape: [b.length, b[0]!.length], datatype: 'FP32', data: b }];
    return Buffer.from(JSON.stringify({ outputs: flip ? outs.reverse() : outs }));
  };
  const v = cmp('argmax', two([[1, 0]], [[0, 1, 0]]), two([[2, 1]], [[0, 3, 1]], true));
  assert.equal(v.result, 'match');
});

test('argmax and max-abs-diff: a shape change is a mismatch', () => {
  const v = cmp('argmax', kserve([1, 2, 3, 4, 5, 6]), kserve([1, 2, 3, 4, 5, 6], [3, 2]));
  assert.equal(v.result, 'mismatch');
  assert.equal(v.divergence, null);
  assert.match(String(v.detail), /shape \[2,3\] on the primary and \[3,2\] on the shadow/);
});

test('max-abs-diff: the largest element difference against the tolerance', () => {
  const p = kserve([1, 2, 3, 4, 5, 6]);
  const near = cmp('max-abs-diff', p, kserve([1, 2.00001, 3, 4, 5, 6]));
  assert.equal(near.result, 'match');
  assert.ok(near.divergence !== null && Math.abs(near.divergence - 0.00001) < 1e-9);
  const far = cmp('max-abs-diff', p, kserve([1, 2, 3, 4, 5.5, 6]));
  assert.equal(far.result, 'mismatch');
  assert.equal(far.divergence, 0.5);
  assert.equal(compareBodies('max-abs-diff', p, kserve([1, 2, 3, 4, 5.5, 6]), 1).result, 'match', 'a configured tolerance');
});

test('cosine: OpenAI embeddings in index order, and KServe rows', () => {
  const a = openai([[1, 0, 0], [0, 1, 0]]);
  assert.equal(cmp('cosine', a, openai([[2, 0, 0], [0, 3, 0]])).result, 'match', 'length does not matter');
  const off = cmp('cosine', a, openai([[1, 0, 0], [1, 1, 0]]));
  assert.equal(off.result, 'mismatch');
  assert.ok(off.divergence !== null && Math.abs(off.divergence - (1 - Math.SQRT1_2)) < 1e-12, 'the worst item counts');
  const shuffled = Buffer.from(JSON.stringify({ data: [{ index: 1, embedding: [0, 1, 0] }, { index: 0, embedding: [1, 0, 0] }] }));
  assert.equal(cmp('cosine', a, shuffled).result, 'match');
  assert.equal(cmp('cosine', kserve([1, 0, 0, 0, 1, 0]), kserve([1, 0, 0, 0, 1, 0])).result, 'match');
  assert.equal(cmp('cosine', a, openai([[1, 0, 0]])).result, 'mismatch');
});

test('exact: the bytes', () => {
  assert.deepEqual(cmp('exact', Buffer.from('abc'), Buffer.from('abc')), { result: 'match', divergence: 0, detail: null });
  assert.equal(cmp('exact', Buffer.from('abc'), Buffer.from('abd')).result, 'mismatch');
});

test('an unreadable primary makes the pair incomparable; an unreadable shadow is its error', () => {
  assert.equal(cmp('argmax', Buffer.from('<html>'), kserve([1, 2, 3])).result, 'incomparable');
  assert.equal(cmp('argmax', kserve([1, 2, 3]), Buffer.from('{"error":"x"}')).result, 'shadow-invalid');
  assert.equal(cmp('cosine', openai([[1]]), Buffer.from('not json')).result, 'shadow-invalid');
  assert.equal(cmp('max-abs-diff', kserve([1, 2, 3]), Buffer.from(JSON.stringify({ outputs: [{ name: 'logits', shape: [1, 3], data: ['a', 'b', 'c'] }] }))).result, 'shadow-invalid');
});
