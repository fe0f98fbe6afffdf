// `kind: onnx` supervision: forked workers speaking runtime/protocol.ts. Most cases use a
// fake worker (a real process that speaks the protocol without a model); the last one
// drives the real worker with the bundled MLP.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { entryPath } from '../../runtime/entry-path.ts';
import { createRuntimeManager } from '../../runtime/manager.ts';
import { captureLogger, FAKE_WORKER, getJson, inferMlp, isAlive, onnxRuntime, recordStates, replicaStatus, waitFor, waitReady } from './harness.ts';

const fake = { onnxWorker: FAKE_WORKER };

test('worker entry: main.ts from source, main.js next to the compiled manager', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-entry-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'onnx'));
  const base = `file://${dir}/manager.js`;
  writeFileSync(join(dir, 'onnx', 'main.js'), '');
  assert.equal(entryPath('./onnx/main.ts', base), join(dir, 'onnx', 'main.js'));
  writeFileSync(join(dir, 'onnx', 'main.ts'), '');
  assert.equal(entryPath('./onnx/main.ts', base), join(dir, 'onnx', 'main.ts'));
  // From the source tree the manager forks the real worker.
  const real = entryPath('./onnx/main.ts', new URL('../../runtime/manager.ts', import.meta.url).href);
  assert.equal(real, fileURLToPath(new URL('../../runtime/onnx/main.ts', import.meta.url)));
  assert.ok(existsSync(real));
});

test('workers report listening, warming, ready; each gets its init and its pinned GPU', async (t) => {
  const manager = createRuntimeManager([
    onnxRuntime('pinned', 'ok', { replicas: 2, devices: ['1', '2'], device: 'cuda' }),
    onnxRuntime('single', 'ok', { device: 'cuda', cudaDevice: 3 }),
  ], { ...fake, logger: captureLogger() });
  t.after(() => manager.stop());
  const states = recordStates(manager);
  const warmups: { runtime: string; seconds: number }[] = [];
  manager.on('warmup', (e) => warmups.push(e));
  await manager.start();
  const [p0, p1, s0] = await Promise.all([waitReady(manager, 'pinned', 0), waitReady(manager, 'pinned', 1), waitReady(manager, 'single', 0)]);
  assert.deepEqual(states.filter((e) => e.runtime === 'pinned' && e.replica === 0).map((e) => e.state), ['starting', 'warming', 'ready']);
  assert.deepEqual(warmups.map((w) => w.seconds), [0.02, 0.02, 0.02]);

  for (const [status, replica, device] of [[p0, 0, '1'], [p1, 1, '2'], [s0, 0, '3']] as const) {
    assert.equal(status.device, device);
    assert.equal(status.warmupSeconds, 0.02);
    assert.ok(status.pid !== null && isAlive(status.pid));
    const { body } = await getJson(status.origin!, '/');
    assert.equal(body.CUDA_VISIBLE_DEVICES, device);
    assert.equal(body.init.replica, replica);
    assert.equal(body.init.host, '127.0.0.1');
  }
  assert.deepEqual(manager.backend('pinned')!.endpoints().map((e) => e.id), ['pinned/0', 'pinned/1']);
  assert.equal(manager.status().find((r) => r.name === 'single')!.kind, 'onnx');
});

test('workerMetrics() gathers every live worker and skips dead ones', async (t) => {
  const manager = createRuntimeManager([onnxRuntime('m', 'ok', { replicas: 2 })], { ...fake, logger: captureLogger() });
  t.after(() => manager.stop());
  const states = recordStates(manager);
  await manager.start();
  const [r0, r1] = await Promise.all([waitReady(manager, 'm', 0), waitReady(manager, 'm', 1)]);
  await getJson(r1.origin!, '/');
  const all = await manager.workerMetrics();
  assert.equal(all.length, 2);
  const served = all.map((m) => m.find((x) => x.name === 'fake_worker_served_total')!.values[0]!);
  assert.deepEqual(served.map((v) => [v.labels.replica, v.value]), [['0', 0], ['1', 1]]);

  process.kill(r0.pid!, 'SIGKILL');
  await waitFor('crash', () => states.some((e) => e.replica === 0 && e.state === 'crashed'));
  const started = Date.now();
  const left = await manager.workerMetrics();
  assert.ok(Date.now() - started < 500, 'a dead worker is skipped, not waited for');
  assert.equal(left.length, 1);
  assert.equal(left[0]![0]!.values[0]!.labels.replica, '1');
});

test('a fatal report is the crash reason; the worker is restarted after a backoff', async (t) => {
  const manager = createRuntimeManager([onnxRuntime('broken', 'fatal')], { ...fake, logger: captureLogger() });
  t.after(() => manager.stop());
  const states = recordStates(manager);
  const restarts: unknown[] = [];
  manager.on('restart', (e) => restarts.push(e));
  await manager.start();
  await waitFor('restart', () => restarts.length >= 1, 3000);
  const crash = states.find((e) => e.state === 'crashed')!;
  assert.equal(crash.reason, 'cannot load model /fixtures/fatal');
  assert.equal(crash.previous, 'starting');
  assert.equal(replicaStatus(manager, 'broken', 0)!.lastError, 'cannot load model /fixtures/fatal');
  assert.match(manager.readiness().reasons[0]!, /^runtime "broken": no ready replica \(replica 0: .*cannot load model \/fixtures\/fatal/);
});

test('stop() drains workers over IPC and escalates to signals for one that ignores it', async (t) => {
  const manager = createRuntimeManager([
    onnxRuntime('polite', 'ok'),
    onnxRuntime('stubborn', 'stubborn', { stopGrace: 200 }),
  ], { ...fake, logger: captureLogger() });
  t.after(() => manager.stop());
  const states = recordStates(manager);
  const lines: { runtime: string; line: string }[] = [];
  manager.on('log', (e) => lines.push(e));
  await manager.start();
  const [polite, stubborn] = await Promise.all([waitReady(manager, 'polite', 0), waitReady(manager, 'stubborn', 0)]);
  const started = Date.now();
  await manager.stop();
  const took = Date.now() - started;
  assert.ok(!isAlive(polite.pid!) && !isAlive(stubborn.pid!));
  const stopped = (runtime: string) => states.find((e) => e.runtime === runtime && e.state === 'stopped')!;
  assert.equal(stopped('polite').reason, 'exited with code 0');
  assert.equal(stopped('polite').previous, 'draining');
  assert.match(stopped('stubborn').reason!, /^killed by SIGKILL/);
  assert.ok(lines.some((l) => l.runtime === 'polite' && l.line === 'draining'));
  assert.ok(lines.some((l) => l.runtime === 'stubborn' && l.line === 'ignoring SIGTERM'), 'SIGTERM came after the drain grace');
  assert.ok(took >= 1200 && took < 3000, `drain grace 200ms + SIGTERM grace 1s, took ${took}ms`);
});

test('the real ONNX worker is driven to ready and serves the bundled MLP', async (t) => {
  const model = fileURLToPath(new URL('../../examples/models/mlp.onnx', import.meta.url));
  const logger = captureLogger();
  const manager = createRuntimeManager([onnxRuntime('mlp', 'ok', { model, warmup: { iterations: 2, sample: null } })], { logger });
  t.after(() => manager.stop());
  await manager.start();
  const ready = await waitReady(manager, 'mlp', 0, 20_000);
  const res = await inferMlp(ready.origin!);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.outputs[0].shape, [1, 10]);
  // The worker's pino lines arrive as records of their own, tagged with the replica.
  const logged = await waitFor('the worker\'s ready log line', () => logger.records.find((r) => r.msg === 'ready' && r.obj.stream === 'stdout'));
  assert.equal(logged?.obj.runtime, 'mlp');
  assert.equal(logged?.obj.replica, 0);
  assert.equal(logged?.obj.childPid, ready.pid);
  const metrics = await manager.workerMetrics();
  assert.equal(metrics.length, 1);
  assert.ok(metrics[0]!.length > 0);
});
