// The canary analysis's verdicts over a sliding window, on outcomes fed with explicit times
// (the e2e tests drive the same analysis with real backends through the real process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CanaryAnalysis } from '../../../policies/canary/analysis.ts';
import type { CanaryEvent } from '../../../policies/canary/analysis.ts';
import { LiveWeights } from '../../../policies/split/weights.ts';
import type { CanaryPolicyConfig } from '../../../policies/canary/config.ts';

const BASE: CanaryPolicyConfig = {
  backend: 'next', window: 10_000, minRequests: 50, maxErrorRateDelta: 1, maxP99Ratio: 1.5, action: 'rollback', steps: [], stepEvery: 10_000,
};

function setup(cfg: Partial<CanaryPolicyConfig> = {}, weights: Record<string, number> = { stable: 90, next: 10 }) {
  const w = new LiveWeights(Object.entries(weights).map(([to, weight]) => ({ to, weight })));
  const events: CanaryEvent[] = [];
  const a = new CanaryAnalysis('r', { ...BASE, ...cfg }, w, (e) => events.push(e), 0);
  return { a, w, events };
}

/** `n` outcomes per side, spread over [from, from + span) ms. */
function feed(a: CanaryAnalysis, from: number, span: number, n: number, canary: { ms: number; errorEvery?: number }, baseline: { ms: number; errorEvery?: number }): number {
  for (let i = 0; i < n; i++) {
    const t = from + (span * i) / n;
    a.observe(false, baseline.ms, baseline.errorEvery !== undefined && i % baseline.errorEvery === 0, t);
    a.observe(true, canary.ms, canary.errorEvery !== undefined && i % canary.errorEvery === 0, t);
  }
  return from + span;
}

test('no verdict before minRequests on both sides; healthy after', () => {
  const { a, events } = setup();
  feed(a, 0, 1_000, 40, { ms: 5, errorEvery: 2 }, { ms: 5 });
  assert.equal(a.currentState, 'observing', 'half the canary requests failed, but only 40 were seen');
  const { a: b } = setup();
  feed(b, 0, 1_000, 60, { ms: 5 }, { ms: 5 });
  assert.equal(b.currentState, 'healthy');
  assert.equal(events.length, 0);
});

test('an error rate more than maxErrorRateDelta points above the baseline rolls back to 0', () => {
  const { a, w, events } = setup();
  feed(a, 0, 2_000, 100, { ms: 5, errorEvery: 20 }, { ms: 5 });
  assert.equal(a.currentState, 'rolled-back');
  assert.equal(w.get('next'), 0);
  assert.equal(w.get('stable'), 90);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.action, 'rollback');
  // Judged as soon as both sides reach minRequests: 3 failures in the first 50.
  assert.match(events[0]!.reason, /^error rate 6% is 6 points above the other backends' 0% \(limit 1\) over 50 canary requests$/);
  const s = a.status(3_000);
  assert.equal(s['state'], 'rolled-back');
  assert.match(String(s['reason']), /error rate/);
  // Rolled back stays rolled back: more outcomes change nothing until a reset.
  feed(a, 2_000, 2_000, 100, { ms: 5 }, { ms: 5 });
  assert.equal(a.currentState, 'rolled-back');
});

test('the same error rate on both sides is no regression', () => {
  const { a } = setup();
  feed(a, 0, 2_000, 200, { ms: 5, errorEvery: 10 }, { ms: 5, errorEvery: 10 });
  assert.equal(a.currentState, 'healthy');
});

test('a p99 more than maxP99Ratio times the baseline rolls back', () => {
  const { a, events } = setup();
  feed(a, 0, 2_000, 100, { ms: 30 }, { ms: 10 });
  assert.equal(a.currentState, 'rolled-back');
  assert.match(events[0]!.reason, /^p99 latency 30(\.\d+)? ms is (2\.9\d|3)× the other backends' 10(\.\d+)? ms \(limit 1\.5×\)/);
});

test('sub-millisecond latencies are compared as 1 ms', () => {
  const { a } = setup();
  feed(a, 0, 2_000, 100, { ms: 0.9 }, { ms: 0.2 });
  assert.equal(a.currentState, 'healthy');
});

test('the window slides: failures older than it no longer count', () => {
  const { a } = setup({ minRequests: 20 }, { stable: 1, next: 1 });
  // Canary fails before it has minRequests: no verdict yet.
  feed(a, 0, 1_000, 10, { ms: 5, errorEvery: 1 }, { ms: 5 });
  // Much later, healthy outcomes only: the early failures are out of the window.
  feed(a, 20_000, 2_000, 40, { ms: 5 }, { ms: 5 });
  assert.equal(a.currentState, 'healthy');
});

test('promote steps the weight up while healthy, then hands the route over', () => {
  const { a, w, events } = setup({ action: 'promote', steps: [5, 25, 50, 100], stepEvery: 1_000, minRequests: 20 }, { stable: 1, next: 0 });
  assert.equal(w.sharePercent('next'), 5, 'a canary configured at 0 starts at the first step');
  let t = feed(a, 0, 1_300, 30, { ms: 5 }, { ms: 5 });
  assert.equal(Math.round(w.sharePercent('next')), 25);
  t = feed(a, t, 1_300, 30, { ms: 5 }, { ms: 5 });
  assert.equal(Math.round(w.sharePercent('next')), 50);
  assert.equal(a.currentState, 'promoting');
  t = feed(a, t, 1_300, 30, { ms: 5 }, { ms: 5 });
  assert.equal(w.sharePercent('next'), 100);
  assert.equal(w.get('stable'), 0);
  assert.equal(a.currentState, 'promoted');
  assert.deepEqual(events.map((e) => [e.action, e.weightPercent]), [['step', 25], ['step', 50], ['promoted', 100]]);
});

test('promote rolls back on a breach too, and a reset starts over from the configured weights', () => {
  const { a, w, events } = setup({ action: 'promote', steps: [10, 50, 100], stepEvery: 1_000, minRequests: 20 }, { stable: 9, next: 1 });
  let t = feed(a, 0, 1_300, 30, { ms: 5 }, { ms: 5 });
  assert.equal(Math.round(w.sharePercent('next')), 50);
  t = feed(a, t, 500, 30, { ms: 5, errorEvery: 3 }, { ms: 5 });
  assert.equal(a.currentState, 'rolled-back');
  assert.equal(w.get('next'), 0);
  a.reset(t);
  assert.equal(a.currentState, 'observing');
  assert.deepEqual(w.current, [9, 1]);
  assert.equal(events.at(-1)!.action, 'reset');
  const s = a.status(t);
  assert.deepEqual(s['canary'], { requests: 0, errorRatePercent: 0, p99Ms: 0 });
});

test('a burst that crosses minRequests between two evaluations and then stops is still judged', async () => {
  const { a, w } = setup();
  // All within 50 ms of the first evaluation: observe() judges at most every 100 ms.
  feed(a, 0, 50, 60, { ms: 5, errorEvery: 5 }, { ms: 5 });
  assert.equal(a.currentState, 'observing', 'not judged yet: the last evaluation was under 100 ms ago');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(a.currentState, 'rolled-back', 'judged once the 100 ms had passed, with no more traffic');
  assert.equal(w.get('next'), 0);
});
