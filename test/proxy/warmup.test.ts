// The proxy's warmup requests built from a model's KServe v2 metadata (proxy/warmup.ts).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { loadConfigText } from '../../proxy/config/load.ts';
import { WarmClient, warmForwardPath, warmInferences } from '../../proxy/warmup.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

test('a batch-1 request from the metadata: dynamic batch dim 1, other dynamic dims 16, fixed dims kept', () => {
  const probes = warmInferences('mlp', {
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 64] }, { name: 'mask', datatype: 'BOOL', shape: [-1, -1] }],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
  });
  assert.equal(probes.length, 1);
  assert.equal(probes[0]!.path, '/v2/models/mlp/infer');
  const body = JSON.parse(probes[0]!.body!) as { inputs: { name: string; shape: number[]; datatype: string; data: unknown[] }[] };
  assert.deepEqual(body.inputs.map((i) => [i.name, i.shape, i.datatype, i.data.length]), [['input', [1, 64], 'FP32', 64], ['mask', [1, 16], 'BOOL', 16]]);
  assert.equal(body.inputs[0]!.data[0], 0.5);
  assert.equal(body.inputs[1]!.data[0], true);
});

test('an embedder also gets an OpenAI embeddings request', () => {
  const probes = warmInferences('embedder', {
    inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1, -1] }],
    outputs: [{ name: 'embeddings', datatype: 'FP32', shape: [-1, 128] }],
  });
  assert.deepEqual(probes.map((p) => p.path), ['/v2/models/embedder/infer', '/v1/embeddings']);
  assert.ok(probes.every((p) => p.gated === true && p.repeat === 512 && p.budgetMs === 1000), 'real inferences: enough for V8 to optimise the path, within a time budget, and sent on only when the first succeeds');
  assert.deepEqual(JSON.parse(probes[0]!.body!).inputs[0].data.slice(0, 2), [1, 1]);
});

test('nothing for inputs it does not synthesise: BYTES, huge fixed shapes, no metadata', () => {
  assert.deepEqual(warmInferences('t', { inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }] }), []);
  assert.deepEqual(warmInferences('big', { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1024, 1024] }] }), []);
  assert.deepEqual(warmInferences('none', {}), []);
});

test('warmForwardPath (from its child process): cheap probes 32 times, a real inference 512 times plus twice on each of 16 fresh connections, a path the model refuses once; bad metadata gives no inference', async (t) => {
  const seen = new Map<string, number>();
  let metadata: unknown = {
    name: 'm', inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1, -1] }, { name: 'position_ids', datatype: 'INT64', shape: [-1, -1] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 8] }],
  };
  // Stands in for the data listener: it answers what the worker behind it would.
  const connections = new Set<unknown>();
  const server = createServer((req, res) => {
    connections.add(req.socket);
    assert.equal(req.headers['x-outrider-warmup'], 'token');
    req.resume();
    req.on('end', () => {
      const key = `${req.method} ${req.url}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (req.url === '/v2/models/m') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(metadata));
      // This model has input_ids but also position_ids: the worker serves no embeddings for it.
      if (req.url === '/v1/embeddings') return void res.writeHead(404).end('{}');
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const loaded = await loadConfigText(`
version: 1
runtimes:
  - { name: m, kind: onnx, model: examples/models/embedder.onnx }
routes:
  - { name: m, match: { path: /v2/models/m/, prefix: true }, backends: [ { to: m } ] }
`, join(ROOT, 'outrider.yaml'));
  assert.ok(loaded.ok);
  const log = pino({ level: 'silent' });

  const result = await warmForwardPath(loaded.config, { origin, socketPath: null, tls: false }, 'token', log, new WarmClient(log));
  assert.equal(result.error, undefined);
  assert.equal(seen.get('GET /v2/health/ready'), 32);
  assert.equal(seen.get('POST /v2/models/m/infer'), 32 + 512 + 16 * 2, 'the refused-in-validation probe 32 times, the valid one 512 times and twice on each fresh connection');
  assert.equal(seen.get('POST /v1/embeddings'), 1, 'refused once: not sent again');
  assert.equal(result.requests, 32 + 32 + 512 + 32 + 1, 'the child reports every warmup request it sent (the metadata GET is not one)');
  assert.equal(connections.size, 4 + 16, 'four pooled connections, then 16 of their own');

  // Metadata whose shape is not integers is ignored: only the cheap probes go.
  seen.clear();
  metadata = { name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: ['N', 4] }] };
  await warmForwardPath(loaded.config, { origin, socketPath: null, tls: false }, 'token', log, new WarmClient(log));
  assert.equal(seen.get('POST /v2/models/m/infer'), 32);
  assert.equal(seen.get('POST /v1/embeddings'), undefined);
});

test('a broken warmup client never holds readiness back: one that dies, one that never answers, one whose script or node is missing', async () => {
  const log = pino({ level: 'silent' });
  const plan = { target: { origin: 'http://127.0.0.1:9', socketPath: null, tls: false }, token: 't', runtimes: [], budgetMs: 200 };
  const fixture = (name: string) => join(ROOT, 'test', 'proxy', 'fixtures', name);

  const dies = await new WarmClient(log, { entry: fixture('warm-client-exits.mjs') }).run(plan);
  assert.match(dies.error ?? '', /exited \(3\)/);

  const t0 = performance.now();
  const hangs = new WarmClient(log, { entry: fixture('warm-client-hangs.mjs') });
  const silent = await hangs.run(plan);
  assert.match(silent.error ?? '', /did not answer in time/);
  // Budget + 2 s for the answer, then up to 2 s for it to go after its channel closes (SIGKILL).
  const ms = performance.now() - t0;
  assert.ok(ms >= 2_200 && ms < 5_500, `gave up after ${ms.toFixed(0)} ms`);

  const missing = await new WarmClient(log, { entry: fixture('no-such-client.mjs') }).run(plan);
  assert.ok(missing.error !== undefined, 'a script that is not there: node exits at once');

  const t1 = performance.now();
  const unspawnable = await new WarmClient(log, { execPath: join(ROOT, 'no-such-node') }).run(plan);
  assert.match(unspawnable.error ?? '', /not running|failed/);
  assert.ok(performance.now() - t1 < 1_000, 'a spawn that fails is no wait');
});
