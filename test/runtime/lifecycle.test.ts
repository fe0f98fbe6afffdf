import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canTransition, DecorrelatedBackoff, Lifecycle, type LifecycleOptions } from '../../runtime/lifecycle.ts';
import type { ReplicaState } from '../../runtime/types.ts';

test('transitions follow starting -> warming -> ready -> draining and crashed -> backoff -> starting', () => {
  const legal: [ReplicaState, ReplicaState][] = [
    ['stopped', 'starting'], ['starting', 'warming'], ['starting', 'ready'], ['warming', 'ready'], ['ready', 'draining'],
    ['draining', 'stopped'], ['starting', 'crashed'], ['warming', 'crashed'], ['ready', 'crashed'],
    ['crashed', 'backoff'], ['backoff', 'starting'], ['backoff', 'stopped'], ['crashed', 'stopped'],
  ];
  const illegal: [ReplicaState, ReplicaState][] = [
    ['starting', 'backoff'], ['ready', 'warming'], ['ready', 'starting'], ['crashed', 'starting'], ['crashed', 'ready'],
    ['draining', 'ready'], ['draining', 'crashed'], ['backoff', 'ready'], ['stopped', 'ready'], ['warming', 'starting'],
  ];
  for (const [from, to] of legal) assert.equal(canTransition(from, to), true, `${from} -> ${to}`);
  for (const [from, to] of illegal) assert.equal(canTransition(from, to), false, `${from} -> ${to}`);
});

test('decorrelated backoff: the first restart waits min, then grows up to max within [min, max], and starts over on reset', () => {
  const top = new DecorrelatedBackoff(100, 1000, () => 1);
  assert.deepEqual([top.next(), top.next(), top.next(), top.next(), top.next()], [100, 300, 900, 1000, 1000]);
  top.reset();
  assert.deepEqual([top.next(), top.next()], [100, 300]);

  const bottom = new DecorrelatedBackoff(100, 1000, () => 0);
  assert.deepEqual([bottom.next(), bottom.next(), bottom.next()], [100, 100, 100]);

  let seed = 7;
  const lcg = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const b = new DecorrelatedBackoff(50, 400, lcg);
  for (let i = 0; i < 1000; i++) {
    const d = b.next();
    assert.ok(d >= 50 && d <= 400, `delay ${d} out of range`);
  }
  assert.throws(() => new DecorrelatedBackoff(500, 100), /min <= max/);
});

function lifecycle(over: Partial<LifecycleOptions> = {}) {
  const changes: string[] = [];
  let restarts = 0;
  const lc = new Lifecycle({
    minBackoff: 100,
    maxBackoff: 1000,
    stableAfter: 5000,
    random: () => 1,
    onChange: (state, previous, reason) => changes.push(`${previous}->${state}${reason !== undefined ? ` (${reason})` : ''}`),
    onRestart: () => restarts++,
    ...over,
  });
  return { lc, changes, restarts: () => restarts };
}

test('a crash goes through backoff and restarts after the delay', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { lc, changes, restarts } = lifecycle();
  lc.to('starting');
  lc.crash('exited with code 1');
  assert.equal(lc.lastError, 'exited with code 1');
  assert.equal(lc.backoff(), 100);
  assert.equal(lc.state, 'backoff');
  assert.equal(lc.restartAt, Date.now() + 100);
  t.mock.timers.tick(99);
  assert.equal(restarts(), 0);
  t.mock.timers.tick(1);
  assert.equal(lc.state, 'starting');
  assert.equal(restarts(), 1);
  assert.equal(lc.restarts, 1);
  assert.equal(lc.restartAt, null);
  assert.deepEqual(changes, [
    'stopped->starting', 'starting->crashed (exited with code 1)', 'crashed->backoff (exited with code 1)', 'backoff->starting (restart)',
  ]);
});

test('illegal transitions throw and leave the state alone', () => {
  const { lc } = lifecycle();
  lc.to('starting');
  assert.throws(() => lc.to('backoff'), /illegal replica transition starting -> backoff/);
  assert.equal(lc.state, 'starting');
});

test('stopping during backoff cancels the restart', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { lc, restarts } = lifecycle();
  lc.to('starting');
  lc.crash('boom');
  lc.backoff();
  lc.to('stopped');
  t.mock.timers.tick(10_000);
  assert.equal(restarts(), 0);
  assert.equal(lc.state, 'stopped');
});

test('backoff grows across a crash loop and starts over once ready for stableAfter', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { lc } = lifecycle({ stableAfter: 2000 });
  const crashCycle = (): number => {
    lc.crash('boom');
    const delay = lc.backoff();
    t.mock.timers.tick(delay);
    return delay;
  };
  lc.to('starting');
  assert.equal(crashCycle(), 100);
  assert.equal(crashCycle(), 300);
  assert.equal(crashCycle(), 900);
  // Ready, but not long enough to count as healthy: the next delay keeps growing.
  lc.to('ready');
  t.mock.timers.tick(1999);
  assert.equal(crashCycle(), 1000);
  lc.to('ready');
  t.mock.timers.tick(2000);
  assert.equal(crashCycle(), 100);
  assert.equal(lc.restarts, 5);
});
