import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dataTypeFromOrt } from '../../../runtime/onnx/datatypes.ts';
import { concatRows, sliceRows, tileRows, type Tensor } from '../../../runtime/onnx/tensor.ts';

const f32 = dataTypeFromOrt('float32')!;
const i64 = dataTypeFromOrt('int64')!;
const t = (dims: number[], values: number[]): Tensor => ({ type: f32, dims, data: Float32Array.from(values) });

test('concatRows joins along dim 0', () => {
  const out = concatRows(f32, [t([1, 2], [1, 2]), t([2, 2], [3, 4, 5, 6])], [3, 2]);
  assert.deepEqual([...out.data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(out.dims, [3, 2]);
});

test('concatRows zero-pads shorter rows (token ids)', () => {
  const a: Tensor = { type: i64, dims: [1, 2], data: BigInt64Array.from([7n, 8n]) };
  const b: Tensor = { type: i64, dims: [2, 3], data: BigInt64Array.from([1n, 2n, 3n, 4n, 5n, 6n]) };
  const out = concatRows(i64, [a, b], [3, 3]);
  assert.deepEqual([...out.data], [7n, 8n, 0n, 1n, 2n, 3n, 4n, 5n, 6n]);
});

test('concatRows pads a middle dim and copies matching trailing dims as blocks', () => {
  // [1,2,2] into [.,3,2]: rows of 2x2 land in the first two of three 2-wide slots.
  const out = concatRows(f32, [t([1, 2, 2], [1, 2, 3, 4]), t([1, 3, 2], [5, 6, 7, 8, 9, 10])], [2, 3, 2]);
  assert.deepEqual([...out.data], [1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 9, 10]);
  // [1,2,2] into [.,2,3]: the last dim is padded.
  const out2 = concatRows(f32, [t([1, 2, 2], [1, 2, 3, 4])], [1, 2, 3]);
  assert.deepEqual([...out2.data], [1, 2, 0, 3, 4, 0]);
});

test('sliceRows copies a row range; tileRows repeats rows cyclically', () => {
  const x = t([3, 2], [1, 2, 3, 4, 5, 6]);
  const s = sliceRows(x, 1, 2);
  assert.deepEqual(s.dims, [2, 2]);
  assert.deepEqual([...s.data], [3, 4, 5, 6]);
  assert.notEqual(s.data.buffer, x.data.buffer);
  assert.deepEqual([...tileRows(x, 5).data], [1, 2, 3, 4, 5, 6, 1, 2, 3, 4]);
});
