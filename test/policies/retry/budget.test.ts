// The retry budget's sliding window, on a clock the test drives (performance.now() values from
// a process's first milliseconds included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RetryBudget } from '../../../policies/retry/budget.ts';

const TUNING = { windowMs: 2_000, buckets: 20, minRetriesPerSecond: 10 };

test('retries stay within the percentage of the requests in the window, or the floor', () => {
  const b = new RetryBudget(20, TUNING);
  let t = 3;   // a process that just started: small clock values
  let retries = 0;
  // 100 requests a second, each wanting 3 retries, for 10 s.
  for (let i = 0; i < 1_000; i++) {
    t += 10;
    b.onRequest(t);
    for (let k = 0; k < 3; k++) if (b.tryRetry(t)) retries++;
  }
  assert.ok(retries <= 0.2 * 1_000 + 20, `${retries} retries`);
  assert.ok(retries >= 0.19 * 1_000, `${retries} retries`);
  // The window is 20 buckets of 100 ms, the newest one just begun: 1.9 to 2 s of requests.
  const s = b.snapshot(t);
  assert.ok(s.requests >= 190 && s.requests <= 200, `${s.requests} requests in the window`);
  assert.equal(s.allowed, Math.floor(0.2 * s.requests));
  assert.ok(s.retries <= s.allowed);
});

test('a quiet route still gets the floor, and an idle window forgets everything', () => {
  const b = new RetryBudget(20, TUNING);
  b.onRequest(5);
  let n = 0;
  while (b.tryRetry(5)) n++;
  assert.equal(n, 20, 'the floor: 10 a second over the 2 s window');
  assert.equal(b.tryRetry(1_000), false, 'still the same window');
  assert.equal(b.tryRetry(2_200), true, 'the window moved past the spent retries');
  assert.deepEqual(b.snapshot(60_000), { windowMs: 2_000, requests: 0, retries: 0, allowed: 20 });
});
