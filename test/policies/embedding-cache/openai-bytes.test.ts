// Stored embeddings are the backend's own bytes, found by a scan of its (already parsed) JSON:
// unusual but valid answers (whitespace, member order, escaped names, repeated names, nested
// arrays, strings holding brackets) must split and merge to exactly what JSON.parse reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openai } from '../../../policies/embedding-cache/openai.ts';
import { elements, member, skipValue } from '../../../policies/embedding-cache/spans.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };

function batchOf(input: string[], extra: Record<string, unknown> = {}) {
  const b = openai.parse(Buffer.from(JSON.stringify({ input, model: 'm', ...extra })), JSON_HEADERS);
  assert.ok(b !== null);
  return b;
}

test('the scan finds the same values JSON.parse reads, whatever the layout', () => {
  const text = ' { "a" : [ 1 , [2, "]" ], {"b": "x\\"]}"} ] ,\n"c":{"d":[]},"e":"\\u0041","a":[3] , "f": -1.5e+3 }\t';
  const b = Buffer.from(text);
  const doc = JSON.parse(text) as Record<string, unknown>;
  for (const name of ['a', 'c', 'e', 'f']) {
    const span = member(b, 0, name)!;
    assert.deepEqual(JSON.parse(b.toString('utf8', span.start, span.end)), doc[name], name);
  }
  assert.equal(member(b, 0, 'missing'), null);
  const first = Buffer.from('[1, [2, "]"], {"b": "x\\"]}"}]');
  const parts = [...elements(first, 0)].map((s) => JSON.parse(first.toString('utf8', s.start, s.end)) as unknown);
  assert.deepEqual(parts, [1, [2, ']'], { b: 'x"]}' }]);
  assert.equal(skipValue(Buffer.from('[1.5,2e-3]  '), 0), 10);
  assert.equal(skipValue(Buffer.from('"a\\\\"x'), 0), 5);
});

test('split keeps each embedding as the backend wrote it, and merge reproduces the values in input order', () => {
  const batch = batchOf(['x', 'y', 'z']);
  // Out of order, spaced out, an escaped member name, a repeated one (the last wins), numbers in
  // forms JavaScript would print otherwise.
  const body = Buffer.from(`{
    "model" : "emb\\u0065dder",
    "data" : [
      { "embedding": [9, 9], "index": 2, "embe\\u0064ding" : [ 1.50, -2E-1, 0.30000000000000004 ] , "object": "embedding" },
      {"index":0,"object":"embedding","embedding":[0,1e2]},
      {"object":"embedding","embedding":[-0.0],"index":1, "extra": {"embedding": [7]}}
    ],
    "usage": {"prompt_tokens": 3, "total_tokens": 3}
  }`);
  const split = batch.split(body, 3);
  assert.ok(split !== null);
  // The stored text is the backend's own: 1.50 and -2E-1 are kept as written.
  assert.ok(split.values[2]!.toString('latin1').endsWith('[ 1.50, -2E-1, 0.30000000000000004 ]'));
  const merged = JSON.parse(batch.merge(split.values, split).toString()) as { data: { index: number; embedding: number[] }[]; model: string; usage: unknown };
  assert.deepEqual(merged.data.map((d) => d.index), [0, 1, 2]);
  assert.deepEqual(merged.data.map((d) => d.embedding), [[0, 100], [-0], [1.5, -0.2, 0.30000000000000004]]);
  assert.equal(merged.model, 'embedder');
  assert.deepEqual(merged.usage, { prompt_tokens: 3, total_tokens: 3 });
  // Merged from the store alone (no backend part): the model comes from the items, usage is zero.
  const again = JSON.parse(batch.merge([split.values[1]!, split.values[0]!], null).toString()) as { data: { embedding: number[] }[]; model: string; usage: unknown };
  assert.deepEqual(again.data.map((d) => d.embedding), [[-0], [0, 100]]);
  assert.equal(again.model, 'embedder');
  assert.deepEqual(again.usage, { prompt_tokens: 0, total_tokens: 0 });
});

test('answers that are not one valid embedding per item are not split', () => {
  const batch = batchOf(['x', 'y']);
  const bad = [
    '{"data":[{"index":0,"embedding":[1]}]}',                                        // too few
    '{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}',            // an index twice
    '{"data":[{"index":0,"embedding":[1]},{"index":1,"embedding":"AAAA"}]}',         // not numbers
    '{"data":[{"index":0,"embedding":[1]},{"index":1,"embedding":[1,"2"]}]}',
    '{"data":[{"index":0,"embedding":[1]},{"index":1.5,"embedding":[2]}]}',
    '[{"index":0,"embedding":[1]},{"index":1,"embedding":[2]}]',
    '{"data":[{"index":0,"embedding":[1]},{"index":1,"embedding":[2]}]',             // not JSON
  ];
  for (const text of bad) assert.equal(batch.split(Buffer.from(text), 2), null, text);
  const b64 = batchOf(['x'], { encoding_format: 'base64' });
  assert.equal(b64.split(Buffer.from('{"data":[{"index":0,"embedding":[1,2]}]}'), 1), null);
  const ok = b64.split(Buffer.from('{"data":[{"index":0,"embedding":"AACAPw=="}],"model":"m"}'), 1);
  assert.ok(ok !== null);
  assert.equal((JSON.parse(b64.merge(ok.values, ok).toString()) as { data: { embedding: string }[] }).data[0]!.embedding, 'AACAPw==');
  // A base64 item is not served to a float request (nor the reverse), nor an item of an older format.
  assert.equal(batch.accepts(ok.values[0]!), false);
  assert.equal(b64.accepts(ok.values[0]!), true);
  assert.equal(batch.accepts(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), false);
});
