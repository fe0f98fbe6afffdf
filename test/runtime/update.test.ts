// update(): reconcile running runtimes with a reloaded config.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRuntimeManager } from '../../runtime/manager.ts';
import type { RuntimeManager } from '../../runtime/types.ts';
import { captureLogger, getJson, isAlive, processRuntime, recordStates, replicaStatus, waitFor, waitReady, type StateEvent, waitReadyAgain } from './harness.ts';

/** The fewest endpoints `runtime` had at any state change or 5 ms sample from now on. */
function watchGap(t: { after: (fn: () => void) => void }, manager: RuntimeManager, runtime: string): () => number {
  let min = Infinity;
  const sample = (): void => {
    min = Math.min(min, manager.backend(runtime)?.endpoints().length ?? 0);
  };
  manager.on('state', sample);
  const timer = setInterval(sample, 5);
  t.after(() => clearInterval(timer));
  return () => min;
}

test('update() keeps unchanged runtimes, replaces changed ones without a gap, stops removed ones, starts new ones', async (t) => {
  const manager = createRuntimeManager([
    processRuntime('keep'),
    processRuntime('change', { replicas: 2 }),
    processRuntime('gone'),
  ], { logger: captureLogger() });
  t.after(() => manager.stop());
  await manager.start();
  const [keep, old0, old1, gone] = await Promise.all([
    waitReady(manager, 'keep', 0), waitReady(manager, 'change', 0), waitReady(manager, 'change', 1), waitReady(manager, 'gone', 0),
  ]);
  const changeSet = manager.backend('change')!;
  const states = recordStates(manager);
  const fewest = watchGap(t, manager, 'change');

  await manager.update([
    processRuntime('keep'),
    processRuntime('change', { replicas: 2, version: '2', env: { GENERATION: '2' } }),
    processRuntime('fresh'),
  ]);
  assert.equal(manager.backend('gone'), undefined, 'a removed runtime is no backend any more');
  assert.equal(manager.backend('change'), changeSet, 'the proxy keeps the same BackendSet across a replacement');
  assert.equal(changeSet.version, '2');

  const [new2, new3] = await Promise.all([waitReady(manager, 'change', 2), waitReady(manager, 'change', 3), waitReady(manager, 'fresh', 0)]);
  await waitFor('old generation stopped', () => manager.status().find((r) => r.name === 'change')!.replicas.length === 2, 5000);
  assert.deepEqual(changeSet.endpoints().map((e) => [e.id, e.origin]), [['change/2', new2.origin], ['change/3', new3.origin]]);
  assert.ok(fewest() >= 1, 'the changed runtime always had a ready endpoint');

  const at = (replica: number, state: string): number => states.findIndex((e) => e.runtime === 'change' && e.replica === replica && e.state === state);
  const lastNewReady = Math.max(at(2, 'ready'), at(3, 'ready'));
  assert.ok(lastNewReady >= 0);
  assert.ok(at(0, 'draining') > lastNewReady && at(1, 'draining') > lastNewReady, 'old replicas drain only once every new one is ready');
  assert.ok(!isAlive(old0.pid!) && !isAlive(old1.pid!));

  assert.equal(states.filter((e: StateEvent) => e.runtime === 'keep').length, 0, 'the unchanged runtime saw no state change');
  assert.equal(replicaStatus(manager, 'keep', 0)!.pid, keep.pid);
  await waitFor('removed runtime gone', () => !isAlive(gone.pid!));
  assert.deepEqual(manager.status().map((r) => r.name), ['keep', 'change', 'fresh']);
  assert.deepEqual(manager.readiness(), { ready: true, reasons: [] });

  // The next replacement reuses the indices the drained generation freed.
  await manager.update([processRuntime('keep'), processRuntime('change', { replicas: 2, version: '3' }), processRuntime('fresh')]);
  await Promise.all([waitReady(manager, 'change', 0), waitReady(manager, 'change', 1)]);
  await waitFor('second handover', () => changeSet.endpoints().map((e) => e.id).join() === 'change/0,change/1', 5000);
  assert.ok(fewest() >= 1);
});

test('a new generation that never becomes ready leaves the old one serving', async (t) => {
  const manager = createRuntimeManager([processRuntime('model')], { logger: captureLogger() });
  t.after(() => manager.stop());
  await manager.start();
  const old = await waitReady(manager, 'model', 0);
  const states = recordStates(manager);
  const fewest = watchGap(t, manager, 'model');

  await manager.update([processRuntime('model', { env: { FIXTURE_NEVER_LISTEN: '1' }, health: { startupTimeout: 300 } })]);
  await waitFor('the new replica crash-looping', () => states.filter((e) => e.replica === 1 && e.state === 'crashed').length >= 2, 5000);
  assert.deepEqual(manager.backend('model')!.endpoints().map((e) => e.origin), [old.origin]);
  assert.equal(manager.readiness().ready, true);
  assert.equal(replicaStatus(manager, 'model', 0)!.state, 'ready');
  assert.ok(fewest() >= 1);

  // Until the new generation is ready the old one is what serves: a crash there is restarted.
  process.kill(old.pid!, 'SIGKILL');
  const back = await waitReadyAgain(manager, 'model', 0, old.pid, 5000);
  assert.equal(back.restarts, 1);
  const fewestAfter = watchGap(t, manager, 'model');

  // Replaced again before it was ever ready: the broken generation stops at once.
  await manager.update([processRuntime('model', { env: { GENERATION: '3' } })]);
  const fixed = await waitReady(manager, 'model', 2);
  await waitFor('only the fixed generation left', () => manager.status()[0]!.replicas.length === 1, 5000);
  assert.deepEqual(manager.backend('model')!.endpoints().map((e) => e.origin), [fixed.origin]);
  assert.ok(fewestAfter() >= 1);
  assert.ok(!isAlive(back.pid!));
});

test('bad use is refused with a clear error', async () => {
  assert.throws(() => createRuntimeManager([processRuntime('twice'), processRuntime('twice')]), /runtime "twice" is configured twice/);
  const manager = createRuntimeManager([], { logger: captureLogger() });
  await manager.start();
  assert.deepEqual(manager.readiness(), { ready: true, reasons: [] });
  await manager.stop();
  await assert.rejects(manager.update([processRuntime('late')]), /runtime manager is stopped/);
  await assert.rejects(manager.start(), /cannot start: it is stopped/);
});

test('update() before start() only changes what start() will run', async (t) => {
  const manager = createRuntimeManager([processRuntime('early'), processRuntime('dropped')], { logger: captureLogger() });
  t.after(() => manager.stop());
  const early = manager.backend('early')!;
  await manager.update([processRuntime('early', { version: '2', env: { SELF: 'configured before start' } })]);
  assert.equal(manager.backend('early'), early);
  assert.equal(manager.backend('dropped'), undefined);
  assert.deepEqual(manager.status().map((r) => [r.name, r.version, r.replicas.length]), [['early', '2', 0]]);
  assert.match(manager.readiness().reasons[0]!, /^runtime "early": no ready replica \(no replica running\)$/);
  await manager.start();
  const ready = await waitReady(manager, 'early', 0);
  assert.equal((await getJson(ready.origin!, '/env')).body.SELF, 'configured before start');
});

test('a replica leaving rotation is stopped only once release() resolves, or after its own stopGrace when it never does', async (t) => {
  const released: string[] = [];
  let letGo: () => void = () => {};
  const logger = captureLogger();
  const manager = createRuntimeManager([processRuntime('held', { stopGrace: 600 })], {
    logger,
    release: (origin) => {
      released.push(origin);
      // The first hand-over waits for the test; the second one's release never resolves; the
      // final stop's is immediate.
      if (released.length === 1) return new Promise<void>((resolve) => { letGo = resolve; });
      return released.length === 2 ? new Promise<void>(() => {}) : Promise.resolve();
    },
  });
  t.after(() => manager.stop());
  await manager.start();
  const first = await waitReady(manager, 'held', 0);

  await manager.update([processRuntime('held', { stopGrace: 600, env: { GENERATION: '2' } })]);
  await waitReady(manager, 'held', 1);
  await waitFor('release asked', () => released.length === 1);
  assert.deepEqual(released, [first.origin]);
  assert.deepEqual(manager.backend('held')!.endpoints().map((e) => e.id), ['held/1'], 'out of rotation at once');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(isAlive(first.pid!), 'not signalled while the proxy still has requests there');
  assert.equal(replicaStatus(manager, 'held', 0)!.state, 'draining');
  letGo();
  await waitFor('old replica stopped', () => !isAlive(first.pid!) && manager.status()[0]!.replicas.length === 1);

  // The second release never resolves: the old replica waits its own stopGrace (600 ms), not
  // the new generation's (10 s), then is stopped anyway.
  const second = replicaStatus(manager, 'held', 1)!;
  let drainingAt = 0;
  manager.on('state', (e: StateEvent) => { if (e.replica === 1 && e.state === 'draining') drainingAt = Date.now(); });
  await manager.update([processRuntime('held', { stopGrace: 10_000, env: { GENERATION: '3' } })]);
  await waitReady(manager, 'held', 0);
  await waitFor('stopped after its stopGrace', () => !isAlive(second.pid!), 5000);
  const waited = Date.now() - drainingAt;
  assert.ok(drainingAt > 0 && waited >= 600 && waited < 5000, `waited ${waited} ms after leaving rotation`);
  assert.ok(logger.records.some((r) => r.level === 'warn' && r.msg.startsWith('requests to a draining replica outlived stopGrace')));
});
