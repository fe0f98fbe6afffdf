// `kind: process` runtimes against real fixture servers: startup, warmup, health, logs, stop.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createRuntimeManager } from '../../runtime/manager.ts';
import type { RuntimeManager } from '../../runtime/types.ts';
import {
  captureLogger, getJson, isAlive, killQuietly, processRuntime, recordStates, replicaStatus, waitFor, waitReady, waitReadyAgain, type StateEvent, } from './harness.ts';

function managed(t: { after: (fn: () => Promise<void>) => void }, manager: RuntimeManager): RuntimeManager {
  t.after(() => manager.stop());
  return manager;
}

test('a healthy process runtime is warmed with every warmup request before it is ready', async (t) => {
  const logger = captureLogger();
  const manager = managed(t, createRuntimeManager([processRuntime('model', {
    replicas: 2,
    devices: ['3', '5'],
    env: { SELF: 'http://127.0.0.1:${PORT}/v2' },
    warmup: {
      iterations: 3,
      requests: [
        { method: 'POST', path: '/warm', headers: { 'content-type': 'application/json' }, body: '{"inputs":[]}' },
        { method: 'POST', path: '/warm?second', headers: {}, body: null },
      ],
    },
  })], { logger }));
  const states = recordStates(manager);
  const warmupsAtReady: Promise<number>[] = [];
  manager.on('state', (e: StateEvent) => {
    if (e.state !== 'ready') return;
    const origin = replicaStatus(manager, e.runtime, e.replica)!.origin!;
    warmupsAtReady.push(getJson(origin, '/stats').then((r) => r.body.warmups));
  });
  const warmups: unknown[] = [];
  manager.on('warmup', (e) => warmups.push(e));
  const lines: { replica: number; stream: string; line: string }[] = [];
  manager.on('log', (e) => lines.push(e));

  await manager.start();
  const [r0, r1] = await Promise.all([waitReady(manager, 'model', 0), waitReady(manager, 'model', 1)]);
  assert.deepEqual(await Promise.all(warmupsAtReady), [6, 6]);
  for (const replica of [0, 1]) {
    assert.deepEqual(states.filter((e) => e.replica === replica).map((e) => e.state), ['starting', 'warming', 'ready']);
  }
  assert.equal(warmups.length, 2);

  const backend = manager.backend('model')!;
  assert.equal(backend.kind, 'runtime');
  assert.equal(backend.version, '1');
  assert.deepEqual(backend.endpoints().map((e) => [e.id, e.origin, e.backend]), [
    ['model/0', r0.origin, 'model'], ['model/1', r1.origin, 'model'],
  ]);
  assert.ok(Object.isFrozen(backend.endpoints()));
  assert.equal(backend.endpoints(), backend.endpoints(), 'cached between state changes');

  for (const [r, device] of [[r0, '3'], [r1, '5']] as const) {
    assert.equal(r.device, device);
    assert.ok(r.pid !== null && isAlive(r.pid));
    assert.ok(r.warmupSeconds !== null && r.warmupSeconds > 0);
    assert.equal(r.restarts, 0);
    assert.equal(r.lastError, null);
    const port = new URL(r.origin!).port;
    const env = (await getJson(r.origin!, '/env')).body;
    assert.deepEqual(env, { PORT: port, CUDA_VISIBLE_DEVICES: device, SELF: `http://127.0.0.1:${port}/v2`, argv: ['--port', port] });
  }

  assert.deepEqual(manager.readiness(), { ready: true, reasons: [] });
  await waitFor('stderr line', () => lines.some((l) => l.stream === 'stderr' && l.line === 'fixture stderr line'));
  const listening = lines.find((l) => l.replica === 1 && l.line.startsWith('fixture listening on'));
  assert.equal(listening?.stream, 'stdout');
  const logged = logger.records.find((r) => r.msg === listening.line);
  assert.deepEqual(logged?.obj, { runtime: 'model', replica: 1, stream: 'stdout' });
});

test('a runtime that never becomes healthy is killed, backs off, restarts, and readiness says why', async (t) => {
  const manager = managed(t, createRuntimeManager([processRuntime('never', {
    env: { FIXTURE_NEVER_LISTEN: '1' },
    health: { startupTimeout: 500 },
  })], { logger: captureLogger() }));
  const states = recordStates(manager);
  const restarts: unknown[] = [];
  manager.on('restart', (e) => restarts.push(e));
  await manager.start();
  const firstPid = replicaStatus(manager, 'never', 0)!.pid!;
  assert.ok(isAlive(firstPid));

  const crashed = await waitFor('crash', () => states.find((e) => e.state === 'crashed'), 3000);
  assert.equal(crashed.reason, 'not healthy within 500ms (last probe: ECONNREFUSED)');
  const readiness = manager.readiness();
  assert.equal(readiness.ready, false);
  assert.equal(readiness.reasons.length, 1);
  assert.match(readiness.reasons[0]!, /^runtime "never": no ready replica \(replica 0: (crashed|backoff, restart in \d+ms \(crashed): not healthy within 500ms \(last probe: ECONNREFUSED\)/);

  await waitFor('restart', () => restarts.length > 0, 3000);
  assert.deepEqual(restarts[0], { runtime: 'never', replica: 0 });
  assert.deepEqual(states.slice(0, 4).map((e) => e.state), ['starting', 'crashed', 'backoff', 'starting']);
  await waitFor('the unhealthy process to be gone', () => !isAlive(firstPid));
  const after = replicaStatus(manager, 'never', 0)!;
  assert.equal(after.restarts, 1);
  assert.equal(after.lastError, 'not healthy within 500ms (last probe: ECONNREFUSED)');
  assert.match(manager.readiness().reasons[0]!, /replica 0: (starting \(restart 1, last crash|crashed|backoff)/);
});

test('a failed warmup request is a crash with the reason', async (t) => {
  const manager = managed(t, createRuntimeManager([processRuntime('warm', {
    env: { FIXTURE_WARMUP_FAIL_AT: '2' },
    warmup: { iterations: 3, requests: [{ method: 'POST', path: '/warm', headers: {}, body: 'x' }] },
  })], { logger: captureLogger() }));
  const states = recordStates(manager);
  await manager.start();
  const crashed = await waitFor('crash', () => states.find((e) => e.state === 'crashed'), 3000);
  assert.equal(crashed.reason, 'warmup request 2/3 (POST /warm) failed: HTTP 500: {"error":"warmup broke"}');
  assert.ok(!states.some((e) => e.state === 'ready'));
  assert.deepEqual(manager.backend('warm')!.endpoints(), []);
});

test('failing probes while ready take the replica out of rotation at once, then it is restarted', async (t) => {
  const manager = managed(t, createRuntimeManager([processRuntime('flaky', { health: { failureThreshold: 3 } })], { logger: captureLogger() }));
  const states = recordStates(manager);
  await manager.start();
  const before = await waitReady(manager, 'flaky', 0);
  const backend = manager.backend('flaky')!;
  let endpointsAtCrash: number | null = null;
  manager.on('state', (e: StateEvent) => {
    if (e.state === 'crashed') endpointsAtCrash = backend.endpoints().length;
  });
  assert.equal((await getJson(before.origin!, '/admin/unhealthy', { method: 'POST' })).status, 200);

  const crashed = await waitFor('crash', () => states.find((e) => e.state === 'crashed'), 3000);
  assert.equal(crashed.previous, 'ready');
  assert.equal(crashed.reason, 'health probe failed 3 times in a row (last: HTTP 503: {"ok":false})');
  assert.equal(endpointsAtCrash, 0);
  const after = await waitReadyAgain(manager, 'flaky', 0, before.pid, 5000);
  assert.equal(after.restarts, 1);
  assert.notEqual(after.origin, before.origin, 'a restart gets a fresh port');
  assert.ok(!isAlive(before.pid!));
  assert.deepEqual(backend.endpoints().map((e) => e.origin), [after.origin]);
});

test('stop() drains out of rotation first, then leaves no process behind (group included, SIGTERM ignored)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-stop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const manager = createRuntimeManager([
    processRuntime('polite', { replicas: 2, env: { FIXTURE_GRANDCHILD: '1', FIXTURE_PID_FILE: join(dir, 'polite-${PORT}') } }),
    processRuntime('stubborn', { stopGrace: 300, env: { FIXTURE_IGNORE_TERM: '1', FIXTURE_PID_FILE: join(dir, 'stubborn-${PORT}') } }),
  ], { logger: captureLogger() });
  t.after(() => manager.stop());
  await manager.start();
  const ready = await Promise.all([waitReady(manager, 'polite', 0), waitReady(manager, 'polite', 1), waitReady(manager, 'stubborn', 0)]);
  const pidFiles = [['polite', ready[0]], ['polite', ready[1]], ['stubborn', ready[2]]] as const;
  const pids = pidFiles.flatMap(([name, r]) => readFileSync(join(dir, `${name}-${new URL(r.origin!).port}`), 'utf8').trim().split(' ').map(Number));
  t.after(() => pids.forEach(killQuietly));
  assert.equal(pids.length, 5, 'two runtimes, two grandchildren, one stubborn');
  for (const pid of pids) assert.ok(isAlive(pid));

  const draining: [string, number][] = [];
  manager.on('state', (e: StateEvent) => {
    if (e.state === 'draining') draining.push([e.runtime, manager.backend(e.runtime)!.endpoints().filter((x) => x.id === `${e.runtime}/${e.replica}`).length]);
  });
  const started = Date.now();
  await manager.stop();
  const took = Date.now() - started;
  assert.deepEqual(draining.map(([, n]) => n), [0, 0, 0], 'each replica is out of rotation when it starts draining');
  for (const pid of pids) assert.ok(!isAlive(pid), `pid ${pid} survived stop()`);
  assert.ok(took >= 300, `the stubborn one was given its stopGrace (${took}ms)`);
  assert.ok(took < 2000, `stop() took ${took}ms`);
  for (const r of manager.status()) for (const s of r.replicas) assert.equal(s.pid, null);
  assert.equal(manager.readiness().ready, false);
});

test('a command that cannot be executed crashes with the reason and keeps retrying', async (t) => {
  const manager = managed(t, createRuntimeManager([processRuntime('missing', { command: ['/nonexistent/model-server', '--port', '${PORT}'] })], { logger: captureLogger() }));
  const states = recordStates(manager);
  await manager.start();
  const crashed = await waitFor('crash', () => states.find((e) => e.state === 'crashed'), 3000);
  assert.match(crashed.reason!, /\/nonexistent\/model-server/);
  await waitFor('a restart', () => states.filter((e) => e.state === 'starting').length >= 2, 3000);
});
