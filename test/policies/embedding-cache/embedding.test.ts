// The per-item embedding cache against real loopback embedding servers that record exactly
// which inputs they computed: partial hits send only the misses (once each, in order, with a
// consistent Content-Length), answers keep the input order and the OpenAI/KServe shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, HEAD, startProxy } from '../../helpers/inprocess.ts';
import { startUpstream } from '../../helpers/upstreams.ts';
import type { TestUpstream } from '../../helpers/upstreams.ts';

/** A deterministic embedding of a string (values that print differently as float32 and float64 included). */
function vector(text: string): number[] {
  let h = 7;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) % 100_003;
  return [text.length, h / 7, Math.fround(h / 3), -h / 1e7];
}

interface OpenAiAnswer { object: string; data: { object: string; index: number; embedding: number[] | string }[]; model: string; usage: { prompt_tokens: number; total_tokens: number } }

async function openaiServer(): Promise<TestUpstream> {
  return startUpstream((req, res, body) => {
    const doc = JSON.parse(body.toString()) as { input: string | string[]; encoding_format?: string; model?: string };
    if (doc.model === 'broken') {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"boom"}');
      return;
    }
    const inputs = typeof doc.input === 'string' ? [doc.input] : doc.input;
    const data = inputs.map((text, index) => {
      const v = vector(text);
      return { object: 'embedding', index, embedding: doc.encoding_format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v };
    });
    const tokens = inputs.reduce((s, x) => s + x.length, 0);
    const text = JSON.stringify({ object: 'list', data, model: doc.model ?? 'fake-embedder', usage: { prompt_tokens: tokens, total_tokens: tokens } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-computed': String(inputs.length) });
    res.end(text);
  });
}

const embed = (url: string, body: unknown) =>
  call(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

/** What the backend was asked, request by request. */
function asked(up: TestUpstream): unknown[] {
  return up.seen.map((s) => {
    assert.equal(Number(s.headers['content-length']), s.body.length, 'the forwarded Content-Length matches the body');
    return (JSON.parse(s.body.toString()) as { input: unknown }).input;
  });
}

test('partial hits: the backend computes exactly the misses, once each, and the answer keeps input order and the OpenAI shape', async (t) => {
  const up = await openaiServer();
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: emb, endpoints: [${up.origin}] } ]
routes:
  - { name: embeddings, match: { path: /v1/embeddings }, embeddingCache: { ttl: 1h }, backends: [ { to: emb } ] }
`);
  const url = `${p.data}/v1/embeddings`;
  const first = await embed(url, { input: ['alpha', 'beta', 'gamma'], model: 'm1' });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-outrider-cache'), 'miss');

  const second = await embed(url, { input: ['beta', 'delta', 'alpha', 'epsilon', 'delta'], model: 'm1', user: 'someone' });
  assert.equal(second.status, 200);
  assert.equal(second.headers.get('x-outrider-cache'), 'partial');
  assert.deepEqual(asked(up), [['alpha', 'beta', 'gamma'], ['delta', 'epsilon']]);
  const doc = JSON.parse(second.text) as OpenAiAnswer;
  assert.equal(doc.object, 'list');
  assert.equal(doc.model, 'm1');
  assert.deepEqual(doc.data.map((d) => d.index), [0, 1, 2, 3, 4]);
  assert.ok(doc.data.every((d) => d.object === 'embedding'));
  assert.deepEqual(doc.data.map((d) => d.embedding), ['beta', 'delta', 'alpha', 'epsilon', 'delta'].map(vector));
  // usage counts what the backend computed for this request: delta and epsilon.
  assert.deepEqual(doc.usage, { prompt_tokens: 12, total_tokens: 12 });
  assert.equal(second.headers.get('content-length'), String(Buffer.byteLength(second.text)));

  const third = await embed(url, { input: ['epsilon', 'gamma'], model: 'm1' });
  assert.equal(third.headers.get('x-outrider-cache'), 'hit');
  assert.equal(third.headers.get('x-outrider-backend'), 'cache');
  const hit = JSON.parse(third.text) as OpenAiAnswer;
  assert.deepEqual(hit.data.map((d) => d.embedding), [vector('epsilon'), vector('gamma')]);
  assert.deepEqual(hit.usage, { prompt_tokens: 0, total_tokens: 0 });
  assert.equal(hit.model, 'm1');
  // A single string is an item like any other.
  const single = await embed(url, { input: 'alpha', model: 'm1' });
  assert.equal(single.headers.get('x-outrider-cache'), 'hit');
  assert.deepEqual((JSON.parse(single.text) as OpenAiAnswer).data, [{ object: 'embedding', index: 0, embedding: vector('alpha') }]);
  assert.equal(up.seen.length, 2);

  assert.equal(await p.metric('outrider_cache_requests_total', { route: 'embeddings', result: 'partial' }), 1);
  assert.equal(await p.metric('outrider_embedding_cache_items_total', { route: 'embeddings', result: 'hit' }), 2 + 2 + 1);
  assert.equal(await p.metric('outrider_embedding_cache_items_total', { route: 'embeddings', result: 'miss' }), 3 + 2);
  const status = (await p.route('embeddings'))['embeddingCache'] as Record<string, unknown>;
  assert.equal(status['itemHits'], 5);
  assert.equal(status['itemMisses'], 5);
});

test('the model, the encoding and the other fields are part of every item\'s key; errors are not stored', async (t) => {
  const up = await openaiServer();
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: emb, endpoints: [${up.origin}] } ]
routes:
  - { name: embeddings, match: { path: /v1/embeddings }, embeddingCache: { ttl: 1h }, backends: [ { to: emb } ] }
`);
  const url = `${p.data}/v1/embeddings`;
  await embed(url, { input: ['a', 'b'], model: 'm1' });
  assert.equal((await embed(url, { input: ['a', 'b'], model: 'm2' })).headers.get('x-outrider-cache'), 'miss');
  const b64 = await embed(url, { input: ['a', 'c'], model: 'm1', encoding_format: 'base64' });
  assert.equal(b64.headers.get('x-outrider-cache'), 'miss');
  const b64hit = await embed(url, { input: ['c', 'a'], model: 'm1', encoding_format: 'base64' });
  assert.equal(b64hit.headers.get('x-outrider-cache'), 'hit');
  const got = (JSON.parse(b64hit.text) as OpenAiAnswer).data.map((d) => [...new Float32Array(Uint8Array.from(Buffer.from(d.embedding as string, 'base64')).buffer)]);
  assert.deepEqual(got, [vector('c'), vector('a')].map((v) => [...new Float32Array(v)]));
  assert.equal((await embed(url, { input: ['a', 'b'], model: 'm1', dimensions: 4 })).headers.get('x-outrider-cache'), 'miss');
  assert.equal(up.seen.length, 4);

  const broken = await embed(url, { input: ['a', 'z'], model: 'broken' });
  assert.equal(broken.status, 500);
  assert.equal(broken.text, '{"error":"boom"}');
  await embed(url, { input: ['a', 'z'], model: 'broken' });
  assert.equal(up.seen.length, 6);
  // Not an embeddings request the cache can split: the backend answers it whole.
  const odd = await embed(url, { input: [], model: 'm1' });
  assert.equal(odd.headers.get('x-outrider-cache'), 'miss');
  assert.equal(await p.metric('outrider_cache_requests_total', { route: 'embeddings', result: 'bypass' }), 1);
});

test('KServe v2: each row of the batch is an item; only missing rows are sent, outputs are stacked back in order', async (t) => {
  const rowsSeen: number[][][] = [];
  const up = await startUpstream((_req, res, body) => {
    const doc = JSON.parse(body.toString()) as { id?: string; inputs: { name: string; shape: number[]; datatype: string; data: number[] }[] };
    const ids = doc.inputs[0]!;
    const [n, width] = ids.shape as [number, number];
    const rows = Array.from({ length: n }, (_, r) => ids.data.slice(r * width, (r + 1) * width));
    rowsSeen.push(rows);
    const emb = rows.flatMap((row) => [row.reduce((a, b) => a + b, 0), row[0]! / 3, Math.fround(0.1 * row.length)]);
    const text = JSON.stringify({ model_name: 'embedder', model_version: '1', id: doc.id, outputs: [{ name: 'embeddings', shape: [n, 3], datatype: 'FP32', data: emb }] });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: emb, endpoints: [${up.origin}] } ]
routes:
  - { name: v2, match: { path: /v2/models/embedder/, prefix: true }, embeddingCache: { ttl: 1h }, backends: [ { to: emb } ] }
`);
  const infer = (id: string, rows: number[][]) => call(`${p.data}/v2/models/embedder/infer`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, inputs: [{ name: 'input_ids', shape: [rows.length, 3], datatype: 'INT64', data: rows.flat() }] }),
  });
  const first = await infer('one', [[1, 2, 3], [4, 5, 6]]);
  assert.equal(first.headers.get('x-outrider-cache'), 'miss');
  const second = await infer('two', [[7, 8, 9], [1, 2, 3], [9, 9, 9], [4, 5, 6]]);
  assert.equal(second.headers.get('x-outrider-cache'), 'partial');
  assert.deepEqual(rowsSeen, [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [9, 9, 9]]]);
  const doc = JSON.parse(second.text) as { model_name: string; model_version: string; id: string; outputs: { name: string; shape: number[]; datatype: string; data: number[] }[] };
  assert.equal(doc.model_name, 'embedder');
  assert.equal(doc.id, 'two');
  assert.deepEqual(doc.outputs.map((o) => [o.name, o.datatype, o.shape]), [['embeddings', 'FP32', [4, 3]]]);
  const expect = (row: number[]) => [row.reduce((a, b) => a + b, 0), row[0]! / 3, Math.fround(0.3)];
  assert.deepEqual(doc.outputs[0]!.data, [[7, 8, 9], [1, 2, 3], [9, 9, 9], [4, 5, 6]].flatMap(expect));
  const third = await infer('three', [[9, 9, 9]]);
  assert.equal(third.headers.get('x-outrider-cache'), 'hit');
  assert.equal((JSON.parse(third.text) as { id: string }).id, 'three');
  assert.equal(up.seen.length, 2);
  // Nested data and the same rows: still hits.
  const nested = await call(`${p.data}/v2/models/embedder/infer`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input_ids', shape: [2, 3], datatype: 'INT64', data: [[4, 5, 6], [7, 8, 9]] }] }),
  });
  assert.equal(nested.headers.get('x-outrider-cache'), 'hit');
  assert.equal(up.seen.length, 2);
});
