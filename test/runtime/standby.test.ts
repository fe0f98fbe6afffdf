// restart.standby: spare processes kept warm out of rotation, taken over by a crashed replica
// once its backoff has passed (runtime/standby.ts). Real processes: the HTTP fixture for
// `kind: process`, the real ONNX worker with the bundled MLP for `kind: onnx`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createRuntimeManager } from '../../runtime/manager.ts';
import type { StandbyStatus } from '../../runtime/types.ts';
import { captureLogger, getJson, inferMlp, isAlive, killQuietly, onnxRuntime, processRuntime, recordStates, replicaStatus, waitFor, waitReady, waitReadyAgain } from './harness.ts';

const MLP = fileURLToPath(new URL('../../examples/models/mlp.onnx', import.meta.url));

function spares(manager: ReturnType<typeof createRuntimeManager>, runtime: string): readonly StandbyStatus[] {
  return manager.status().find((r) => r.name === runtime)?.standby ?? [];
}

function readySpare(manager: ReturnType<typeof createRuntimeManager>, runtime: string): StandbyStatus | undefined {
  return spares(manager, runtime).find((s) => s.state === 'ready' && s.pid !== null);
}

test('a SIGKILLed replica takes over the warm spare after its backoff; a new spare follows; the spare never serves before', async (t) => {
  const logger = captureLogger();
  const manager = createRuntimeManager([processRuntime('web', { restart: { minBackoff: 300, maxBackoff: 2_000, standby: 1, bootAhead: true } })], { logger });
  const states = recordStates(manager);
  t.after(() => manager.stop());
  await manager.start();
  const first = await waitReady(manager, 'web', 0);
  const spare = await waitFor('a ready spare', () => readySpare(manager, 'web'));
  assert.notEqual(spare.pid, first.pid);
  assert.notEqual(spare.origin, first.origin);
  // Out of rotation: the runtime's endpoints are its replicas only.
  assert.deepEqual(manager.backend('web')!.endpoints().map((e) => e.origin), [first.origin]);

  const killedAt = performance.now();
  process.kill(first.pid!, 'SIGKILL');
  const again = await waitReadyAgain(manager, 'web', 0, first.pid, 5_000);
  const tookMs = performance.now() - killedAt;
  // The spare's own process and address, ready without a new start: the backoff (300 ms) and
  // the crash's detection are all it cost.
  assert.equal(again.pid, spare.pid);
  assert.equal(again.origin, spare.origin);
  assert.ok(tookMs >= 280 && tookMs < 3_000, `ready again ${Math.round(tookMs)} ms after the kill`);
  assert.deepEqual(manager.backend('web')!.endpoints().map((e) => e.origin), [spare.origin]);
  const ok = await getJson(again.origin!, '/health');
  assert.equal(ok.status, 200);
  // The restart went through the usual states (so logs and /runtimes read as always).
  const after = states.filter((e) => e.replica === 0).map((e) => e.state).slice(-5);
  assert.deepEqual(after, ['crashed', 'backoff', 'starting', 'warming', 'ready']);

  // A replacement spare is started in the background.
  const next = await waitFor('a new spare', () => readySpare(manager, 'web'), 5_000);
  assert.notEqual(next.pid, spare.pid);
  assert.ok(logger.records.some((r) => r.msg === 'runtime standby state' && r.obj.state === 'adopted'));
});

test('a spare that dies while waiting is replaced; stop() stops spares too, leaving no process behind', async (t) => {
  const manager = createRuntimeManager([processRuntime('web', { replicas: 1, restart: { minBackoff: 50, maxBackoff: 200, standby: 1, bootAhead: true } })], { logger: captureLogger() });
  let stopped = false;
  t.after(async () => { if (!stopped) await manager.stop(); });
  await manager.start();
  await waitReady(manager, 'web', 0);
  const spare = await waitFor('a ready spare', () => readySpare(manager, 'web'));
  killQuietly(spare.pid);
  const next = await waitFor('another spare', () => {
    const s = readySpare(manager, 'web');
    return s !== undefined && s.pid !== spare.pid ? s : undefined;
  }, 5_000);
  const replica = replicaStatus(manager, 'web', 0)!;
  assert.equal(replica.state, 'ready');
  assert.equal(replica.restarts, 0, 'a spare\'s death is not the replica\'s');
  await manager.stop();
  stopped = true;
  assert.equal(isAlive(next.pid!), false);
  assert.equal(isAlive(replica.pid!), false);
});

test('without standby nothing extra runs, and a restart launches a new process as before', async (t) => {
  const manager = createRuntimeManager([processRuntime('web', { restart: { minBackoff: 50, maxBackoff: 200, standby: 0, bootAhead: true } })], { logger: captureLogger() });
  t.after(() => manager.stop());
  await manager.start();
  const first = await waitReady(manager, 'web', 0);
  assert.deepEqual(spares(manager, 'web'), []);
  process.kill(first.pid!, 'SIGKILL');
  const again = await waitReadyAgain(manager, 'web', 0, first.pid, 5_000);
  assert.notEqual(again.origin, null);
});

test('the real ONNX worker: a killed replica of the bundled MLP takes over the warm spare, which answers inferences', async (t) => {
  const manager = createRuntimeManager([onnxRuntime('mlp', 'ok', { model: MLP, replicas: 1, warmup: { iterations: 2, sample: null }, restart: { minBackoff: 200, maxBackoff: 2_000, standby: 1, bootAhead: true } })], { logger: captureLogger() });
  t.after(() => manager.stop());
  await manager.start();
  const first = await waitReady(manager, 'mlp', 0, 20_000);
  const spare = await waitFor('a ready spare', () => readySpare(manager, 'mlp'), 20_000);
  assert.ok(spare.warmupSeconds !== null && spare.warmupSeconds >= 0);
  process.kill(first.pid!, 'SIGKILL');
  const again = await waitFor('replica 0 ready on the spare', () => {
    const s = replicaStatus(manager, 'mlp', 0);
    return s?.state === 'ready' && s.pid === spare.pid ? s : undefined;
  }, 5_000);
  const res = await inferMlp(again.origin!);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.outputs[0].shape, [1, 10]);
  // Its worker metrics are gathered as the replica's now.
  const metrics = await manager.workerMetrics();
  assert.equal(metrics.length, 1);
});

test('stop() while a spare is still starting waits for it to exit; nothing is left running', async (t) => {
  // Health answers 503 for the first 1.5 s of each process: the spare stays starting that long.
  const manager = createRuntimeManager([processRuntime('web', { env: { FIXTURE_HEALTHY_AFTER_MS: '1500' }, restart: { minBackoff: 50, maxBackoff: 200, standby: 1, bootAhead: true } })], { logger: captureLogger() });
  let stopped = false;
  t.after(async () => { if (!stopped) await manager.stop(); });
  await manager.start();
  const replica = await waitReady(manager, 'web', 0, 10_000);
  const starting = await waitFor('a spare with a pid, not yet ready', () => spares(manager, 'web').find((s) => s.pid !== null));
  assert.equal(starting.state, 'starting');
  await manager.stop();
  stopped = true;
  assert.equal(isAlive(starting.pid!), false, 'the spare exited before stop() resolved');
  assert.equal(isAlive(replica.pid!), false);
});

test('a reload that changes the runtime replaces its spares with ones of the new config', async (t) => {
  const logger = captureLogger();
  const v1 = processRuntime('web', { version: '1', restart: { minBackoff: 50, maxBackoff: 200, standby: 1, bootAhead: true } });
  const manager = createRuntimeManager([v1], { logger });
  t.after(() => manager.stop());
  await manager.start();
  await waitReady(manager, 'web', 0);
  const old = await waitFor('a ready spare', () => readySpare(manager, 'web'));
  await manager.update([{ ...v1, version: '2' }]);
  const fresh = await waitFor('a spare of the new generation', () => {
    const s = readySpare(manager, 'web');
    return s !== undefined && s.pid !== old.pid ? s : undefined;
  }, 10_000);
  await waitFor('the old spare to exit', () => !isAlive(old.pid!), 5_000);
  assert.notEqual(fresh.pid, old.pid);
  assert.equal(manager.status().find((r) => r.name === 'web')!.version, '2');
});
