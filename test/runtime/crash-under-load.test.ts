// A replica SIGKILLed while requests flow: it leaves the endpoint set at once, the other
// replica keeps serving, and it comes back after a backoff.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { createRuntimeManager } from '../../runtime/manager.ts';
import { captureLogger, processRuntime, recordStates, waitFor, waitReady, waitReadyAgain } from './harness.ts';

interface Sent {
  readonly at: number;
  readonly origin: string;
  ok: boolean | null;
}

test('SIGKILL of a replica under load: removed from endpoints at once, restarted with backoff, ready again', async (t) => {
  const manager = createRuntimeManager([processRuntime('busy', { replicas: 2, restart: { minBackoff: 100, maxBackoff: 400, standby: 0, bootAhead: true } })], { logger: captureLogger() });
  t.after(() => manager.stop());
  const states = recordStates(manager);
  await manager.start();
  const [victim] = await Promise.all([waitReady(manager, 'busy', 0), waitReady(manager, 'busy', 1)]);
  const backend = manager.backend('busy')!;

  const agent = new Agent({ keepAliveTimeout: 10_000 });
  t.after(() => agent.close());
  const sent: Sent[] = [];
  let running = true;
  let next = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      const endpoints = backend.endpoints();
      if (endpoints.length === 0) {
        await new Promise((r) => setTimeout(r, 2));
        continue;
      }
      const e = endpoints[next++ % endpoints.length]!;
      const s: Sent = { at: performance.now(), origin: e.origin, ok: null };
      sent.push(s);
      try {
        const res = await request(`${e.origin}/work?ms=2`, { dispatcher: agent });
        await res.body.dump();
        s.ok = res.statusCode === 200;
      } catch {
        s.ok = false;
      }
    }
  };
  const loops = Array.from({ length: 6 }, loop);
  await waitFor('load on both replicas', () => new Set(sent.filter((s) => s.ok).map((s) => s.origin)).size === 2);

  let removedAt = 0;
  manager.on('state', (e) => {
    if (e.replica === 0 && e.state === 'crashed') {
      removedAt = performance.now();
      assert.deepEqual(backend.endpoints().map((x) => x.id), ['busy/1']);
    }
  });
  const killedAt = performance.now();
  process.kill(victim.pid!, 'SIGKILL');
  await waitFor('crash seen', () => removedAt > 0, 2000);
  const ready = await waitReadyAgain(manager, 'busy', 0, victim.pid, 5000);
  const readyAt = performance.now();
  await waitFor('load on the restarted replica', () => sent.some((s) => s.origin === ready.origin && s.ok));
  running = false;
  await Promise.all(loops);

  const crash = states.find((e) => e.replica === 0 && e.state === 'crashed')!;
  assert.match(crash.reason!, /^killed by SIGKILL/);
  const after = states.slice(states.indexOf(crash)).filter((e) => e.replica === 0).map((e) => e.state);
  assert.deepEqual(after, ['crashed', 'backoff', 'starting', 'warming', 'ready']);
  assert.equal(ready.restarts, 1);
  assert.ok(readyAt - removedAt >= 100, 'the restart waited at least minBackoff');
  // Nothing was sent to the dead replica once it was out of the set.
  assert.equal(sent.filter((s) => s.origin === victim.origin && s.at > removedAt).length, 0);
  const duringOutage = sent.filter((s) => s.at > removedAt && s.at < readyAt);
  assert.ok(duringOutage.length > 0 && duringOutage.every((s) => s.ok), 'the other replica served everything meanwhile');
  t.diagnostic(`kill -> out of rotation ${(removedAt - killedAt).toFixed(1)}ms; -> ready again ${(readyAt - killedAt).toFixed(0)}ms; failed requests ${sent.filter((s) => s.ok === false).length}/${sent.length}`);
});
