// examples/standalone.yaml as the README runs it: a reverse proxy in front of remote model
// servers, degrading rung by rung as they fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { request } from 'undici';
import { CLI, ROOT } from '../helpers/outrider.ts';
import { startUpstream } from '../helpers/upstreams.ts';
import type { Behaviour } from '../helpers/upstreams.ts';

const answer = (who: string): Behaviour => (_req, res) => {
  const text = JSON.stringify({ model_name: who, outputs: [{ name: 'logits', shape: [1, 2], datatype: 'FP32', data: [0.1, 0.9] }] });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

test('examples/standalone.yaml: forwards, caches, then degrades to the small model and a static answer', async (t) => {
  const a = await startUpstream(answer('primary-a'));
  const b = await startUpstream(answer('primary-b'));
  const small = await startUpstream(answer('small'));
  const proc = spawn(process.execPath, [CLI, 'run', '-c', path.join(ROOT, 'examples/standalone.yaml')], {
    env: { ...process.env, OUTRIDER_DATA: '127.0.0.1:0', OUTRIDER_ADMIN: '127.0.0.1:0', PRIMARY_A: a.origin, PRIMARY_B: b.origin, SMALL: small.origin },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(async () => {
    proc.kill('SIGKILL');
    await Promise.all([a.close(), b.close(), small.close()]);
  });
  const data = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        const o = JSON.parse(line) as { msg?: string; data?: string };
        if (o.msg === 'listening') resolve(`http://${o.data}`);
      } catch { /* not a log line */ }
    });
    proc.once('exit', (code) => reject(new Error(`outrider exited with ${code}`)));
  });
  const infer = (n: number) => request(`${data}/v2/models/classifier/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1], datatype: 'FP32', data: [n] }] }),
  });

  const first = await infer(1);
  assert.equal(first.statusCode, 200);
  assert.equal(first.headers['x-outrider-backend'], 'primary');
  assert.equal(first.headers['x-outrider-cache'], 'miss');
  await first.body.dump();
  const again = await infer(1);
  assert.equal(again.headers['x-outrider-cache'], 'hit');
  await again.body.dump();

  await Promise.all([a.close(), b.close()]);
  const degraded = await infer(2);
  assert.equal(degraded.statusCode, 200);
  assert.equal(degraded.headers['x-outrider-degraded'], 'fallback');
  assert.equal(degraded.headers['x-outrider-backend'], 'small');
  assert.equal((await degraded.body.json() as { model_name: string }).model_name, 'small');

  await small.close();
  const last = await infer(3);
  assert.equal(last.statusCode, 200);
  assert.equal(last.headers['x-outrider-degraded'], 'static');
  assert.deepEqual(await last.body.json(), { outputs: [] });
});
