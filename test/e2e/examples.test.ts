// The embedded default (`npm start`): examples/outrider.yaml with the bundled models, for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { request } from 'undici';
import { CLI, ROOT, waitReady } from '../helpers/outrider.ts';

test('npm start: examples/outrider.yaml serves KServe v2 and OpenAI embeddings from the bundled models', async (t) => {
  const proc = spawn(process.execPath, [CLI, 'run', '-c', path.join(ROOT, 'examples/outrider.yaml')], {
    cwd: '/',   // relative paths resolve against the config's directory, not the working directory
    env: { ...process.env, OUTRIDER_DATA: '127.0.0.1:0', OUTRIDER_ADMIN: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => { proc.kill('SIGKILL'); });
  const stderr: string[] = [];
  readline.createInterface({ input: proc.stderr }).on('line', (l) => stderr.push(l));
  const listening = await new Promise<{ data: string; admin: string }>((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      try {
        const o = JSON.parse(line) as { msg?: string; data?: string; admin?: string };
        if (o.msg === 'listening') resolve({ data: `http://${o.data}`, admin: `http://${o.admin}` });
      } catch { /* not a log line */ }
    });
    proc.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr.join('\n')}`)));
  });
  await waitReady(listening.admin, 60_000);

  const input = Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const infer = await request(`${listening.data}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: input }] }),
  });
  assert.equal(infer.statusCode, 200);
  assert.equal(infer.headers['x-outrider-backend'], 'mlp');
  assert.equal(typeof infer.headers['x-request-id'], 'string', 'one x-request-id, not the runtime\'s echo as well');
  const out = await infer.body.json() as { outputs: { name: string; shape: number[]; data: number[] }[] };
  assert.equal(out.outputs[0]!.name, 'logits');
  assert.deepEqual(out.outputs[0]!.shape, [1, 10]);
  assert.equal(out.outputs[0]!.data.length, 10);

  const emb = await request(`${listening.data}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: ['hello world', 'outrider'] }),
  });
  assert.equal(emb.statusCode, 200);
  const e = await emb.body.json() as { data: { index: number; embedding: number[] }[] };
  assert.deepEqual(e.data.map((d) => d.index), [0, 1]);
  assert.equal(e.data[0]!.embedding.length, 128);

  const bad = await request(`${listening.data}/v2/models/mlp/infer`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 63], datatype: 'FP32', data: input.slice(0, 63) }] }),
  });
  assert.equal(bad.statusCode, 400);
  assert.equal((await bad.body.json() as { error: { code: string } }).error.code, 'invalid_request');

  // /readyz needs one warm replica per runtime; the second mlp replica may still be warming.
  type Runtimes = { runtimes: { name: string; replicas: { state: string; pid: number }[] }[] };
  let mlp: Runtimes['runtimes'][number] | undefined;
  for (let i = 0; i < 300; i++) {
    const rt = await (await request(`${listening.admin}/runtimes`)).body.json() as Runtimes;
    mlp = rt.runtimes.find((r) => r.name === 'mlp');
    if (mlp !== undefined && mlp.replicas.every((r) => r.state === 'ready')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(mlp!.replicas.length, 2);
  assert.ok(mlp!.replicas.every((r) => r.state === 'ready' && r.pid > 0), JSON.stringify(mlp));
  const metrics = await (await request(`${listening.admin}/metrics`)).body.text();
  assert.match(metrics, /outrider_runtime_ready\{runtime="mlp",replica="0"\} 1/);
  assert.match(metrics, /outrider_batch_size_count\{runtime="mlp"\} [1-9]/);
  assert.match(metrics, /outrider_inference_duration_seconds_count\{runtime="embedder"\} [1-9]/);

  proc.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  assert.equal(code, 0);
});
