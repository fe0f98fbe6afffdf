// The caches in the real `outrider run` process: the per-item embedding cache and the response
// cache in front of the bundled embedder ONNX runtime, and a runtime version change (reload)
// that must never serve the old version's answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { ROOT, startOutrider, waitReady } from '../helpers/outrider.ts';

const MODEL = path.join(ROOT, 'examples', 'models', 'embedder.onnx');

const config = (version: string) => `version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
limits: { drainTimeout: 1s }
runtimes:
  - { name: embedder, kind: onnx, model: ${MODEL}, version: "${version}", replicas: 1, warmup: { iterations: 2 } }
routes:
  - { name: embeddings, match: { path: /v1/embeddings }, timeout: 10s, embeddingCache: { ttl: 1h }, backends: [ { to: embedder } ] }
  - { name: infer, match: { path: /v2/models/embedder/, prefix: true }, timeout: 10s, cache: { ttl: 1h }, backends: [ { to: embedder } ] }
telemetry: { accessLog: false, tracing: false }
`;

interface Embeddings { data: { index: number; embedding: number[] }[]; usage: { prompt_tokens: number } }

test('embeddings: cached items and computed ones merge to what the runtime computes; a new runtime version starts afresh', async (t) => {
  const o = await startOutrider(config('1'));
  t.after(() => o.stop());
  await waitReady(o.admin);
  const embed = async (input: string[], headers: Record<string, string> = {}) => {
    const res = await fetch(`${o.data}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ input }) });
    assert.equal(res.status, 200);
    return { cache: res.headers.get('x-outrider-cache'), doc: await res.json() as Embeddings };
  };
  const first = await embed(['hello world', 'outrider']);
  assert.equal(first.cache, 'miss');
  const mixed = await embed(['outrider', 'a new sentence', 'hello world']);
  assert.equal(mixed.cache, 'partial');
  assert.deepEqual(mixed.doc.data.map((d) => d.index), [0, 1, 2]);
  // What the runtime computes for the same batch with the cache out of the way.
  const direct = await embed(['outrider', 'a new sentence', 'hello world'], { 'cache-control': 'no-store' });
  assert.equal(direct.cache, 'miss');
  assert.deepEqual(mixed.doc.data.map((d) => d.embedding), direct.doc.data.map((d) => d.embedding));
  assert.equal(mixed.doc.data[0]!.embedding.length, 128);
  assert.ok(mixed.doc.usage.prompt_tokens < direct.doc.usage.prompt_tokens, 'usage counts the computed item only');
  assert.equal((await embed(['hello world'])).cache, 'hit');

  const infer = async () => {
    const res = await fetch(`${o.data}/v2/models/embedder/infer`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input_ids', shape: [1, 4], datatype: 'INT64', data: [5, 6, 7, 8] }] }),
    });
    assert.equal(res.status, 200);
    return { cache: res.headers.get('x-outrider-cache'), text: await res.text() };
  };
  const a = await infer();
  assert.equal(a.cache, 'miss');
  const b = await infer();
  assert.equal(b.cache, 'hit');
  assert.equal(b.text, a.text);

  // Version 2 of the runtime: nothing computed by version 1 is served.
  await writeFile(o.configFile, config('2'));
  const reload = await fetch(`${o.admin}/config/reload`, { method: 'POST' });
  assert.equal(reload.status, 200);
  assert.equal((await infer()).cache, 'miss');
  assert.equal((await infer()).cache, 'hit');
  assert.equal((await embed(['hello world'])).cache, 'miss');

  const routes = await (await fetch(`${o.admin}/routes`)).json() as { routes: { name: string; cache?: { hitRatio: number }; embeddingCache?: { itemHits: number } }[] };
  assert.equal(routes.routes.find((r) => r.name === 'infer')?.cache?.hitRatio, 0.5);
  assert.ok((routes.routes.find((r) => r.name === 'embeddings')?.embeddingCache?.itemHits ?? 0) >= 3);
  const metrics = await (await fetch(`${o.admin}/metrics`)).text();
  assert.match(metrics, /outrider_cache_requests_total\{route="infer",result="hit"\} 2/);
  assert.match(metrics, /outrider_cache_bytes \d+/);
});
