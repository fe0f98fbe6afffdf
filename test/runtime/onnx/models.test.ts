// The bundled models: regenerating them gives the committed bytes, and they have the I/O and
// properties the examples rely on (mlp-next mostly agrees with mlp; the embedder ignores padding).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { TOKENIZER } from '../../../runtime/onnx/tokenizer.ts';
import { MODELS, ROOT } from './worker-harness.ts';

const PYTHON = '/usr/bin/python3';

test('scripts/gen_models.py is deterministic and reproduces the committed models', async (t) => {
  if (!existsSync(PYTHON)) return t.skip(`${PYTHON} is not installed`);
  const probe = await promisify(execFile)(PYTHON, ['-c', 'import onnx, numpy']).then(() => true, () => false);
  if (!probe) return t.skip(`${PYTHON} lacks onnx/numpy`);
  const { stdout } = await promisify(execFile)(PYTHON, [`${ROOT}scripts/gen_models.py`, '--check'], { timeout: 120_000 });
  assert.match(stdout, /deterministic and matches the files on disk/);
});

const open = (name: string) => ort.InferenceSession.create(`${MODELS}${name}`);

test('classifiers: input [N,64] -> logits [N,10]; mlp-next agrees with mlp on most, not all, inputs', async () => {
  const [mlp, small, next] = await Promise.all([open('mlp.onnx'), open('mlp-small.onnx'), open('mlp-next.onnx')]);
  try {
    for (const s of [mlp, small, next]) {
      assert.deepEqual(s.inputMetadata.map((m) => m.isTensor && [m.name, m.type, m.shape]), [['input', 'float32', ['batch', 64]]]);
      assert.deepEqual(s.outputMetadata.map((m) => m.isTensor && [m.name, m.type, m.shape]), [['logits', 'float32', ['batch', 10]]]);
    }
    const n = 4000;
    let seed = 12345;
    const gauss = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const u = (seed + 1) / 2 ** 32;
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const v = (seed + 1) / 2 ** 32;
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    };
    const x = new ort.Tensor('float32', Float32Array.from({ length: n * 64 }, gauss), [n, 64]);
    const argmax = async (s: ort.InferenceSession) => {
      const l = (await s.run({ input: x })).logits!.data as Float32Array;
      return Array.from({ length: n }, (_, r) => {
        let best = 0;
        for (let c = 1; c < 10; c++) if (l[r * 10 + c]! > l[r * 10 + best]!) best = c;
        return best;
      });
    };
    const [a, b] = await Promise.all([argmax(mlp), argmax(next)]);
    const agree = a.filter((c, k) => c === b[k]).length / n;
    assert.ok(agree > 0.9 && agree < 0.97, `agreement ${agree}`);
    assert.ok(new Set(a).size === 10, 'every class is predicted for some input');
  } finally {
    await Promise.all([mlp.release(), small.release(), next.release()]);
  }
});

test('embedder: unit-norm [N,128]; pad id 0 is masked so padding does not change results', async () => {
  const s = await open('embedder.onnx');
  try {
    const run = async (rows: number[][]) => {
      const width = rows[0]!.length;
      const ids = new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, width]);
      return (await s.run({ input_ids: ids })).embeddings!.data as Float32Array;
    };
    const plain = await run([[17, 4001, 9]]);
    const padded = await run([[17, 4001, 9, 0, 0, 0, 0], [5, 6, 7, 8, 9, 10, 11]]);
    assert.equal(plain.length, 128);
    for (let k = 0; k < 128; k++) assert.ok(Math.abs(plain[k]! - padded[k]!) < 1e-6, `element ${k}`);
    for (const v of [plain, padded.subarray(128)]) {
      const norm = Math.sqrt(v.reduce((acc, x) => acc + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
    }
    const onlyPad = await run([[0, 0]]);
    assert.ok(Math.abs(Math.hypot(...onlyPad) - 1) < 1e-5, 'all-pad input still gives a unit vector');
    await assert.rejects(run([[TOKENIZER.vocabSize]]), /out of data bounds/, 'the vocabulary is exactly the tokenizer\'s');
    await run([[TOKENIZER.vocabSize - 1]]);
  } finally {
    await s.release();
  }
});
