import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cudaOrdinal, readWorkerInit } from '../../../runtime/onnx/init.ts';
import { onnxConfig } from './worker-harness.ts';

test('cuda:N maps to its position in CUDA_VISIBLE_DEVICES, or to N when nothing is pinned', () => {
  const cuda = (n: number | null) => onnxConfig('m', 'mlp.onnx', { device: 'cuda', cudaDevice: n });
  assert.equal(cudaOrdinal(cuda(null), undefined), 0);
  assert.equal(cudaOrdinal(cuda(3), undefined), 3);
  assert.equal(cudaOrdinal(cuda(3), ''), 3);
  assert.equal(cudaOrdinal(cuda(3), '3'), 0, 'the supervisor pinned the replica to GPU 3');
  assert.equal(cudaOrdinal(cuda(3), '1,3'), 1);
  assert.equal(cudaOrdinal(cuda(3), '5'), 0, 'devices: [5] overrides the N of cuda:N');
  assert.equal(cudaOrdinal(cuda(null), '2,3'), 0);
});

test('OUTRIDER_WORKER problems are named', () => {
  assert.throws(() => readWorkerInit(undefined), /OUTRIDER_WORKER is not set/);
  assert.throws(() => readWorkerInit('{'), /not valid JSON/);
  assert.throws(() => readWorkerInit('{"runtime":{"kind":"process"},"host":"127.0.0.1","replica":0}'), /runtime.kind must be "onnx"; runtime.name must be a string/);
  const init = { runtime: onnxConfig('m', 'mlp.onnx'), replica: 2, host: '127.0.0.1' };
  assert.deepEqual(readWorkerInit(JSON.stringify(init)), init);
});
