// examples/gpu: its config loads, and server.py, started by the manager as a `kind: process`
// runtime (on the CPU here; on CUDA where torch sees a GPU), gets warm, ready and serves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatConfigError, loadConfigFile } from '../../proxy/config/load.ts';
import { createRuntimeManager } from '../../runtime/manager.ts';
import { captureLogger, getJson, isAlive, recordStates, waitFor, waitReady } from './harness.ts';

const CONFIG = fileURLToPath(new URL('../../examples/gpu/outrider.yaml', import.meta.url));

test('examples/gpu: server.py runs as a process runtime, warmed with warm.json, and serves KServe v2 inference', async (t) => {
  const loaded = await loadConfigFile(CONFIG, { ...process.env, OUTRIDER_DATA: '127.0.0.1:0', OUTRIDER_ADMIN: '127.0.0.1:0' });
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.map(formatConfigError).join('\n'));
  const { config } = loaded;
  const route = config.routes.find((r) => r.name === 'resnet')!;
  assert.deepEqual([route.match.path, route.match.prefix, route.backends.map((b) => b.to)], ['/v2/models/resnet/', true, ['big-model']]);
  const runtime = config.runtimes.find((r) => r.name === 'big-model');
  assert.ok(runtime !== undefined && runtime.kind === 'process');
  assert.equal(runtime.warmup.requests.length, 1);
  assert.ok(runtime.warmup.requests[0]!.body!.startsWith('{"inputs"'));

  // The example's own config, with probes quick enough for a test.
  const manager = createRuntimeManager([{ ...runtime, health: { ...runtime.health, interval: 100 } }], { logger: captureLogger() });
  t.after(() => manager.stop());
  const states = recordStates(manager);
  const lines: string[] = [];
  manager.on('log', (e: { line: string }) => lines.push(e.line));
  await manager.start();
  const ready = await waitReady(manager, 'big-model', 0, 60_000);
  assert.equal(ready.device, '0');
  assert.ok(ready.warmupSeconds !== null && ready.warmupSeconds > 0);
  assert.deepEqual(states.map((e) => e.state), ['starting', 'warming', 'ready']);
  const banner = lines.find((l) => l.startsWith('resnet server:'));
  assert.match(banner ?? '', /device (cpu|cuda).*CUDA_VISIBLE_DEVICES=0$/);
  t.diagnostic(banner ?? '');
  t.diagnostic(`warmup (5 requests) ${ready.warmupSeconds?.toFixed(3)}s`);

  const [endpoint] = manager.backend('big-model')!.endpoints();
  assert.ok(endpoint !== undefined);
  const image = Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => (i % 17) / 17);
  const infer = (body: unknown) => getJson(endpoint.origin, '/v2/models/resnet/infer', {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-1' }, body: JSON.stringify(body),
  });
  const ok = await infer({ id: 'a', inputs: [{ name: 'input', shape: [2, 3, 32, 32], datatype: 'FP32', data: image }] });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.id, 'a');
  assert.deepEqual(ok.body.outputs.map((o: { name: string; shape: number[] }) => [o.name, o.shape]), [['logits', [2, 10]]]);
  assert.ok(ok.body.outputs[0].data.every((x: unknown) => typeof x === 'number' && Number.isFinite(x)));
  // Deterministic weights: the same image gives the same logits.
  const again = await infer({ inputs: [{ name: 'input', shape: [2, 3, 32, 32], datatype: 'FP32', data: image }] });
  assert.deepEqual(again.body.outputs[0].data, ok.body.outputs[0].data);

  const bad = await infer({ inputs: [{ name: 'input', shape: [1, 3, 16, 16], datatype: 'FP32', data: [1] }] });
  assert.equal(bad.status, 400);
  assert.deepEqual(Object.keys(bad.body.error), ['code', 'message', 'requestId']);
  assert.equal(bad.body.error.code, 'invalid_request');
  assert.equal(bad.body.error.requestId, 'req-1');
  assert.match(bad.body.error.message, /shape \[N,3,32,32\]/);
  const meta = await getJson(endpoint.origin, '/v2/models/resnet');
  assert.deepEqual(meta.body.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 32, 32] }]);

  await manager.stop();
  assert.ok(!isAlive(ready.pid!));
  const stopped = await waitFor('stopped', () => states.find((e) => e.state === 'stopped'));
  assert.equal(stopped.reason, 'exited with code 0', 'aiohttp shut down gracefully on SIGTERM');
});

test('examples/gpu: with --device cuda a replica pinned to a GPU that is not there fails at start and says why', async (t) => {
  // CUDA_VISIBLE_DEVICES=99 hides every GPU on any real machine, and a CPU-only torch has none.
  const loaded = await loadConfigFile(CONFIG, { ...process.env, OUTRIDER_DATA: '127.0.0.1:0', OUTRIDER_ADMIN: '127.0.0.1:0', OUTRIDER_TORCH_DEVICE: 'cuda' });
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.map(formatConfigError).join('\n'));
  const runtime = loaded.config.runtimes.find((r) => r.name === 'big-model');
  assert.ok(runtime !== undefined && runtime.kind === 'process');
  assert.deepEqual(runtime.command.slice(-2), ['--device', 'cuda']);
  const manager = createRuntimeManager([{ ...runtime, devices: ['99'], restart: { ...runtime.restart, minBackoff: 5_000 } }], { logger: captureLogger() });
  t.after(() => manager.stop());
  const states = recordStates(manager);
  await manager.start();
  const crashed = await waitFor('crashed', () => states.find((e) => e.state === 'crashed'), 60_000);
  assert.match(crashed.reason ?? '', /exited with code 2 \(stderr: --device cuda: torch sees no CUDA device \(CUDA_VISIBLE_DEVICES=99,/);
  assert.ok(!states.some((e) => e.state === 'ready'));
});
