import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fnv1a, tokenize, TOKENIZER } from '../../../runtime/onnx/tokenizer.ts';

test('FNV-1a matches the published 32-bit test vectors', () => {
  assert.equal(fnv1a(''), 0x811c9dc5);
  assert.equal(fnv1a('a'), 0xe40c292c);
  assert.equal(fnv1a('foobar'), 0xbf9cf968);
});

test('lower-cases, splits on non-alphanumerics and is deterministic', () => {
  const a = tokenize('Hello, WORLD!  hello-world');
  assert.deepEqual(a, tokenize('hello world hello world'));
  assert.equal(a.length, 4);
  assert.equal(a[0], a[2]);
  assert.notEqual(a[0], a[1]);
});

test('Unicode letters, marks and digits make words; NFKC folds compatibility forms', () => {
  assert.equal(tokenize('東京 über café 42').length, 4);
  // "ｆｕｌｌ" (fullwidth) is "full" after NFKC; "e" + combining acute is "é".
  assert.deepEqual(tokenize('ｆｕｌｌ'), tokenize('full'));
  assert.deepEqual(tokenize('cafe\u0301'), tokenize('café'));
});

test('ids stay in [1, vocabSize): 0 is reserved for padding', () => {
  const words = Array.from({ length: 5000 }, (_, k) => `w${k}`).join(' ');
  const ids = tokenize(words, { ...TOKENIZER, maxTokens: 10_000 });
  assert.equal(ids.length, 5000);
  for (const id of ids) assert.ok(id >= 1 && id < TOKENIZER.vocabSize, `id ${id}`);
});

test('truncates to maxTokens; no words gives no ids', () => {
  assert.equal(tokenize(Array.from({ length: 500 }, (_, k) => `t${k}`).join(' ')).length, TOKENIZER.maxTokens);
  assert.deepEqual(tokenize(''), []);
  assert.deepEqual(tokenize(' !?… —'), []);
});
