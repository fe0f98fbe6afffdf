// restart.bootAhead: a crashed replica's next process starts ahead of the backoff's end by what
// its last start took, and joins the rotation when the backoff ends (runtime/lifecycle.ts,
// runtime/replica.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lifecycle } from '../../runtime/lifecycle.ts';
import { createRuntimeManager } from '../../runtime/manager.ts';
import type { ReplicaState } from '../../runtime/types.ts';
import { captureLogger, processRuntime, waitReady, waitReadyAgain } from './harness.ts';

test('Lifecycle.backoff(ahead): the restart comes `ahead` ms before the delay ends (at most half of it), told when the delay ends', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const calls: { at: number; due: number }[] = [];
  const lc = new Lifecycle({
    minBackoff: 100, maxBackoff: 1000, stableAfter: 5000, random: () => 1,
    onChange: () => undefined,
    onRestart: (due) => calls.push({ at: Date.now(), due }),
  });
  const t0 = Date.now();
  lc.to('starting');
  lc.crash('boom');
  assert.equal(lc.backoff(40), 100);
  assert.equal(lc.restartAt, t0 + 100, '/runtimes still says when the replica is due back');
  t.mock.timers.tick(59);
  assert.equal(calls.length, 0);
  t.mock.timers.tick(1);
  assert.deepEqual(calls, [{ at: t0 + 60, due: t0 + 100 }]);

  // A start longer than the delay gets half of it, so a crash loop still waits.
  lc.crash('boom');
  const t1 = Date.now();
  assert.equal(lc.backoff(5000), 300);
  t.mock.timers.tick(149);
  assert.equal(calls.length, 1);
  t.mock.timers.tick(1);
  assert.deepEqual(calls[1], { at: t1 + 150, due: t1 + 300 });

  // Without a head start, the restart comes when the delay ends.
  lc.crash('boom');
  const t2 = Date.now();
  assert.equal(lc.backoff(), 900);
  t.mock.timers.tick(900);
  assert.deepEqual(calls[2], { at: t2 + 900, due: t2 + 900 });
});

/**
 * SIGKILLs replica 0 of a runtime whose first start takes >= 250 ms and whose restart is quick,
 * and times its way back: the restart, started ahead, is warm before the backoff ends.
 */
async function killAndTime(t: import('node:test').TestContext, bootAhead: boolean) {
  const MIN_BACKOFF = 600;
  const dir = mkdtempSync(join(tmpdir(), 'outrider-boot-ahead-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const manager = createRuntimeManager([processRuntime('slow', {
    env: { FIXTURE_HEALTHY_AFTER_MS: '250', FIXTURE_SLOW_ONCE: join(dir, 'started') },
    restart: { minBackoff: MIN_BACKOFF, maxBackoff: 5_000, standby: 0, bootAhead },
  })], { logger: captureLogger() });
  t.after(() => manager.stop());
  let at = new Map<string, number>();
  const startedAt = performance.now();
  manager.on('state', (e: { replica: number; state: ReplicaState; previous: ReplicaState }) => {
    if (e.replica === 0 && !at.has(`${e.previous}->${e.state}`)) at.set(`${e.previous}->${e.state}`, performance.now());
  });
  // 'warmup' is emitted when an attempt reports itself warm, which may be before it is let in.
  let warmAt = 0;
  manager.on('warmup', (e: { replica: number }) => {
    if (e.replica === 0) warmAt = performance.now();
  });
  await manager.start();
  const first = await waitReady(manager, 'slow', 0);
  const firstBoot = at.get('starting->ready') ?? at.get('warming->ready')!;
  at = new Map();
  process.kill(first.pid!, 'SIGKILL');
  const back = await waitReadyAgain(manager, 'slow', 0, first.pid, 10_000);
  assert.equal(back.restarts, 1);
  const backoffAt = at.get('crashed->backoff')!;
  const restartAt = at.get('backoff->starting')!;
  const readyAgainAt = Math.max(at.get('starting->ready') ?? 0, at.get('warming->ready') ?? 0);
  return { MIN_BACKOFF, firstBootMs: firstBoot - startedAt, backoffAt, restartAt, readyAgainAt, restartToWarmMs: warmAt - restartAt };
}

test('bootAhead: the new process starts during the backoff and the replica is back when the backoff ends, not before', async (t) => {
  const r = await killAndTime(t, true);
  const ahead = Math.min(r.firstBootMs, r.MIN_BACKOFF / 2);
  assert.ok(r.firstBootMs >= 250, `the first start took ${r.firstBootMs.toFixed(0)} ms`);
  // Timers fire late, never early; a few ms of slack for the two clocks.
  assert.ok(r.restartAt - r.backoffAt >= r.MIN_BACKOFF - ahead - 5, `restarted ${(r.restartAt - r.backoffAt).toFixed(0)} ms into the backoff`);
  assert.ok(r.restartAt - r.backoffAt < r.MIN_BACKOFF - ahead + 100, `restarted ${(r.restartAt - r.backoffAt).toFixed(0)} ms into a ${r.MIN_BACKOFF} ms backoff, head start ${ahead.toFixed(0)} ms`);
  assert.ok(r.restartToWarmMs < r.MIN_BACKOFF - (r.restartAt - r.backoffAt), `the restart was warm ${r.restartToWarmMs.toFixed(0)} ms after its launch, before the backoff's end`);
  assert.ok(r.readyAgainAt - r.backoffAt >= r.MIN_BACKOFF - 5, `in rotation again ${(r.readyAgainAt - r.backoffAt).toFixed(0)} ms after the crash: held until the backoff ends`);
  t.diagnostic(`first start ${r.firstBootMs.toFixed(0)} ms; restart ${(r.restartAt - r.backoffAt).toFixed(0)} ms and ready ${(r.readyAgainAt - r.backoffAt).toFixed(0)} ms after the crash (backoff ${r.MIN_BACKOFF} ms)`);
});

test('bootAhead: false: the new process starts when the backoff ends', async (t) => {
  const r = await killAndTime(t, false);
  assert.ok(r.restartAt - r.backoffAt >= r.MIN_BACKOFF - 5, `restarted ${(r.restartAt - r.backoffAt).toFixed(0)} ms into the backoff`);
  assert.ok(r.readyAgainAt - r.backoffAt >= r.MIN_BACKOFF + 30, `ready ${(r.readyAgainAt - r.backoffAt).toFixed(0)} ms after the crash: the backoff, then a whole start`);
});
