// Request parsing and signature facts on synthetic model signatures (shapes the bundled
// models do not have: several inputs, shared symbolic dims, every element type).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutriderError } from '../../../proxy/errors.ts';
import { parseInferRequest } from '../../../runtime/onnx/kserve.ts';
import { requestLimits } from '../../../runtime/onnx/limits.ts';
import { buildSignature, type RawValueMetadata } from '../../../runtime/onnx/signature.ts';

const limits = requestLimits({ maxBatchSize: 8, maxQueueDelay: 0, maxQueue: 16 });
const meta = (name: string, type: string, shape: (number | string)[]): RawValueMetadata => ({ name, isTensor: true, type, shape });

const textModel = buildSignature(
  [meta('input_ids', 'int64', ['batch', 'sequence']), meta('attention_mask', 'int64', ['batch', 'sequence']), meta('scale', 'float32', ['batch', 1])],
  [meta('embeddings', 'float32', ['batch', 8])],
);

function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OutriderError, String(e));
    assert.equal(e.code, 'invalid_request');
    assert.match(e.message, pattern);
    return true;
  });
}

const ids = (rows: number, len: number, name = 'input_ids') => ({ name, datatype: 'INT64', shape: [rows, len], data: new Array(rows * len).fill(1) });
const scale = (rows: number) => ({ name: 'scale', datatype: 'FP32', shape: [rows, 1], data: new Array(rows).fill(0.5) });

test('a missing input is named with its datatype and shape', () => {
  refuses(() => parseInferRequest({ inputs: [ids(1, 3), scale(1)] }, textModel, limits), /missing input "attention_mask" \(datatype INT64, shape \[N,sequence\]\)/);
});

test('inputs must agree on the batch dim and on shared symbolic dims', () => {
  refuses(() => parseInferRequest({ inputs: [ids(2, 3), ids(1, 3, 'attention_mask'), scale(2)] }, textModel, limits), /disagree on the batch dimension: "input_ids" has 2, "attention_mask" has 1/);
  refuses(() => parseInferRequest({ inputs: [ids(1, 3), ids(1, 4, 'attention_mask'), scale(1)] }, textModel, limits), /disagree on dimension "sequence"/);
});

test('integer inputs with a dim no output carries are padded; the rest key the batch', () => {
  assert.deepEqual(textModel.padDims, [[1], [1], []]);
  assert.deepEqual(textModel.keyDims, [[], [], []]);
  const tokenLevel = buildSignature([meta('input_ids', 'int64', ['batch', 'sequence'])], [meta('hidden', 'float32', ['batch', 'sequence', 4])]);
  assert.deepEqual(tokenLevel.padDims, [[]]);
  assert.deepEqual(tokenLevel.keyDims, [[1]]);
  const image = buildSignature([meta('pixels', 'float32', ['batch', 3, 'h', 'w'])], [meta('logits', 'float32', ['batch', 10])]);
  assert.deepEqual(image.padDims, [[]]);
  assert.deepEqual(image.keyDims, [[2, 3]]);
  assert.equal(image.embedder, null);
});

test('embedder detection: input_ids (+ attention_mask / token_type_ids) -> [N, D] float32', () => {
  const bert = buildSignature(
    [meta('input_ids', 'int64', ['b', 's']), meta('attention_mask', 'int64', ['b', 's']), meta('token_type_ids', 'int64', ['b', 's'])],
    [meta('sentence_embedding', 'float32', ['b', 384])],
  );
  assert.deepEqual(bert.embedder, { ids: 0, mask: 1, typeIds: 2, output: 0, dimensions: 384 });
  assert.equal(textModel.embedder, null, 'a float input that is not a token input rules it out');
  const fixedBatch = buildSignature([meta('input_ids', 'int64', [1, 's'])], [meta('e', 'float32', [1, 4])]);
  assert.equal(fixedBatch.batchable, false);
  assert.equal(fixedBatch.embedder, null);
});

test('unsupported element types are refused when the model loads', () => {
  assert.throws(() => buildSignature([meta('text', 'string', ['b'])], [meta('y', 'float32', ['b'])]), /model input "text" has element type string/);
  assert.throws(() => buildSignature([{ name: 'seq', isTensor: false }], [meta('y', 'float32', ['b'])]), /non-tensor/);
});

test('every element type is checked against its range', () => {
  const types: [string, string, unknown, RegExp][] = [
    ['uint8', 'UINT8', 256, /256, out of range for UINT8/],
    ['int8', 'INT8', -129, /out of range for INT8/],
    ['int32', 'INT32', 1.5, /1\.5, not an integer/],
    ['int64', 'INT64', 2 ** 60, /out of range for INT64/],
    ['bool', 'BOOL', 1, /not a boolean/],
    ['float64', 'FP64', 'Infinity', /NaN and Infinity are not allowed/],
    ['float32', 'FP32', '-inf', /NaN and Infinity are not allowed/],
    ['float32', 'FP32', null, /not a number: null/],
  ];
  for (const [ort, kserve, bad, pattern] of types) {
    const sig = buildSignature([meta('x', ort, ['b', 2])], [meta('y', 'float32', ['b', 1])]);
    refuses(() => parseInferRequest({ inputs: [{ name: 'x', datatype: kserve, shape: [1, 2], data: [bad, bad] }] }, sig, limits), pattern);
  }
  const sig = buildSignature([meta('x', 'bool', ['b', 2])], [meta('y', 'float32', ['b', 1])]);
  const ok = parseInferRequest({ inputs: [{ name: 'x', datatype: 'BOOL', shape: [1, 2], data: [true, false] }] }, sig, limits);
  assert.deepEqual([...ok.tensors[0]!.data], [1, 0]);
});

test('nested data must follow the shape; flat and nested give the same tensor', () => {
  const sig = buildSignature([meta('x', 'float32', ['b', 2, 2])], [meta('y', 'float32', ['b', 1])]);
  const flat = parseInferRequest({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2, 2], data: [1, 2, 3, 4] }] }, sig, limits);
  const nested = parseInferRequest({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2, 2], data: [[[1, 2], [3, 4]]] }] }, sig, limits);
  assert.deepEqual([...flat.tensors[0]!.data], [...nested.tensors[0]!.data]);
  refuses(() => parseInferRequest({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2, 2], data: [[[1, 2], [3]]] }] }, sig, limits), /data\[0\]\[1\] has 1 elements, shape \[1,2,2\] needs 2 there/);
});

test('outputs filter and id', () => {
  const r = parseInferRequest({ id: 'req-7', inputs: [ids(1, 2), ids(1, 2, 'attention_mask'), scale(1)], outputs: [{ name: 'embeddings' }] }, textModel, limits);
  assert.equal(r.id, 'req-7');
  assert.deepEqual(r.outputs, [0]);
  assert.equal(r.rows, 1);
  refuses(() => parseInferRequest({ inputs: [ids(1, 2), ids(1, 2, 'attention_mask'), scale(1)], outputs: [{ name: 'nope' }] }, textModel, limits), /unknown output "nope"; the model's outputs are "embeddings"/);
  refuses(() => parseInferRequest({ id: 7, inputs: [] }, textModel, limits), /"id" must be a string/);
});
