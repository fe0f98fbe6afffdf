// Every class of bad request is refused by the real worker before anything runs: 400
// invalid_request (413 for an oversized body) with a message naming the problem, and the
// worker keeps serving afterwards.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { metricValue, onnxConfig, postJson, startWorker, type WorkerHandle } from './worker-harness.ts';

let mlp: WorkerHandle;
let emb: WorkerHandle;

before(async () => {
  [mlp, emb] = await Promise.all([
    startWorker(onnxConfig('mlp', 'mlp.onnx', { batching: { maxBatchSize: 4, maxQueueDelay: 0 } })),
    startWorker(onnxConfig('embedder', 'embedder.onnx', { batching: { maxBatchSize: 4, maxQueueDelay: 0 } })),
  ]);
});
after(async () => {
  await Promise.all([mlp?.kill(), emb?.kill()]);
});

const row = () => new Array(64).fill(0.25);
const input = (over: Record<string, unknown>) => ({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: row(), ...over }] });

async function refused(origin: string, path: string, body: unknown, message: RegExp, headers: Record<string, string> = {}): Promise<void> {
  const r = await postJson(`${origin}${path}`, body, { 'x-request-id': 'val-1', ...headers });
  assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)} -> ${r.status} ${JSON.stringify(r.json)}`);
  assert.equal(r.json.error.code, 'invalid_request');
  assert.equal(r.json.error.requestId, 'val-1');
  assert.match(r.json.error.message, message);
}

test('KServe infer: each malformed request gets a 400 naming the problem', async () => {
  const infer = (body: unknown, message: RegExp, headers?: Record<string, string>) => refused(mlp.origin, '/v2/models/mlp/infer', body, message, headers);
  await infer('{"inputs": [', /^malformed JSON/);
  await infer('', /body is empty/);
  await infer('[1,2]', /must be a JSON object/);
  await infer({}, /"inputs" must be a non-empty array/);
  await infer({ inputs: [{ name: 'pixels', shape: [1, 64], datatype: 'FP32', data: row() }] }, /unknown input "pixels"; the model's inputs are "input"/);
  await infer({ inputs: [input({}).inputs[0], input({}).inputs[0]] }, /input "input" is given twice/);
  await infer(input({ datatype: 'INT64' }), /input "input": expected datatype FP32, got INT64/);
  await infer(input({ datatype: 'FLOAT' }), /expected datatype FP32, got unknown datatype "FLOAT"/);
  await infer(input({ shape: [64] }), /input "input": expected shape \[N,64\] \(rank 2\), got \[64\] \(rank 1\)/);
  await infer(input({ shape: [1, 63], data: new Array(63).fill(0) }), /input "input": expected shape \[N,64\], got \[1,63\]/);
  await infer(input({ shape: [2, 64] }), /shape \[2,64\] needs 128 elements, got 64/);
  await infer(input({ shape: [0, 64], data: [] }), /must hold positive integers/);
  await infer(input({ shape: [1.5, 64] }), /must hold positive integers/);
  await infer(input({ shape: [2, 64], data: [row(), row().slice(1)] }), /data\[1\] has 63 elements/);
  await infer(input({ data: ['NaN', ...row().slice(1)] }), /element 0 is "NaN"; NaN and Infinity are not allowed/);
  await infer(input({ data: [...row().slice(1), '-Infinity'] }), /element 63 is "-Infinity"/);
  await infer(input({ data: [1, 'abc', ...row().slice(2)] }), /element 1 is not a number: "abc"/);
  await infer(input({ data: [1, true, ...row().slice(2)] }), /element 1 is not a number: true/);
  await infer(input({ data: 'not an array' }), /"data" must be an array/);
  await infer({ ...input({}), outputs: [{ name: 'probs' }] }, /unknown output "probs"/);
  await infer(input({}), /x-timeout-ms must be a number of milliseconds/, { 'x-timeout-ms': 'soon' });
});

test('absurd shapes are refused before anything is allocated', async () => {
  const infer = (body: unknown, message: RegExp) => refused(mlp.origin, '/v2/models/mlp/infer', body, message);
  await infer(input({ shape: [100_000_000, 64], data: [] }), /batch dimension 100000000 exceeds the limit of 1024 rows per request/);
  await infer(input({ shape: [2000, 64], data: [] }), /exceeds the limit of 1024 rows/);
  await refused(emb.origin, '/v2/models/embedder/infer', { inputs: [{ name: 'input_ids', shape: [1, 1e9], datatype: 'INT64', data: [1] }] }, /dimension 1 is 1000000000, above the limit of 8192/);
  await refused(emb.origin, '/v2/models/embedder/infer', { inputs: [{ name: 'input_ids', shape: [1024, 8192], datatype: 'INT64', data: [1] }] }, /8388608 elements|needs 8388608 elements/);
  const m = await mlp.metrics();
  assert.equal(metricValue(m, 'outrider_batch_size', '_count'), 0, 'nothing refused was computed');
});

test('a body over the limit -> 413 body_too_large, by Content-Length or while streaming', async () => {
  const { port } = new URL(mlp.origin);
  const reply = await new Promise<string>((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1');
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => { text += d; });
    s.on('end', () => resolve(text));
    s.on('error', reject);
    s.write('POST /v2/models/mlp/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 50000000\r\n\r\n{"inputs":');
  });
  assert.match(reply, /^HTTP\/1\.1 413 /);
  assert.match(reply, /connection: close/i);
  assert.match(reply, /"code":"body_too_large"/);

  // Chunked (no Content-Length): refused once the streamed bytes pass 32 MiB.
  const big = new Uint8Array(33 * 1024 * 1024).fill(0x20);
  const r = await fetch(`${mlp.origin}/v2/models/mlp/infer`, {
    method: 'POST',
    body: new ReadableStream({ start(c) { c.enqueue(big); c.close(); } }),
    duplex: 'half',
  } as RequestInit).catch((e: Error) => e);
  if (r instanceof Response) {
    assert.equal(r.status, 413);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'body_too_large');
  } else {
    // The worker may close the connection before the client finishes writing: a reset is the other valid outcome.
    assert.match(String((r as Error).cause ?? r), /socket|closed|reset|EPIPE/i);
  }
  const after = await postJson(`${mlp.origin}/v2/models/mlp/infer`, input({}));
  assert.equal(after.status, 200, 'still serving');
});

test('/v1/embeddings: malformed requests get a 400 naming the problem', async () => {
  const e = (body: unknown, message: RegExp) => refused(emb.origin, '/v1/embeddings', body, message);
  await e({}, /missing "input"/);
  await e({ input: [] }, /"input" must not be an empty array/);
  await e({ input: 42 }, /"input" must be a string, an array of strings, or an array of token-id arrays/);
  await e({ input: ['ok', 7] }, /input\[1\] must be a string or an array of token ids/);
  await e({ input: [[1, 2, 4096]] }, /input\[0\]\[2\] must be a token id, an integer in \[0, 4096\); got 4096/);
  await e({ input: [1, -2] }, /input\[1\] must be a token id/);
  await e({ input: new Array(200).fill(5) }, /has 200 tokens; at most 128/);
  await e({ input: new Array(1025).fill('x') }, /has 1025 items; at most 1024/);
  await e({ input: 'x', encoding_format: 'int8' }, /"encoding_format" must be "float" or "base64"/);
  await e({ input: 'x', dimensions: 64 }, /"dimensions" must be 128/);
  await e({ input: 'x', model: 5 }, /"model" must be a string/);
});
