// Retries against real misbehaving loopback upstreams: which failures are retried, where the
// retry goes, the deadline it may not pass, and the budget that caps it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, HEAD, LATE_MS, startProxy } from '../../helpers/inprocess.ts';
import { closedPort, echo, startRawUpstream, startUpstream } from '../../helpers/upstreams.ts';
import type { Behaviour } from '../../helpers/upstreams.ts';
import { RETRY, RETRY_SKIPPED } from '../../../policies/retry/events.ts';
import type { RetryEvent, RetrySkippedEvent } from '../../../policies/retry/events.ts';
import { RETRY_TUNING } from '../../../policies/retry/config.ts';

function status(code: number, text = `status ${code}`): Behaviour {
  return (_req, res) => {
    res.writeHead(code, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
}

/** Answers with `first` for the first n requests, then with `then`. */
function firstThen(n: number, first: Behaviour, then: Behaviour): Behaviour {
  let seen = 0;
  return (req, res, body, up) => (seen++ < n ? first : then)(req, res, body, up);
}

test('a listed 503 is retried, the POST body replayed, and the retry counted', async (t) => {
  const up = await startUpstream(firstThen(1, status(503), echo));
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: /, prefix: true }, retry: { attempts: 2, on: [503], budget: 20 }, backends: [ { to: u } ] }
`);
  const retries = p.capture<RetryEvent>(RETRY);
  const res = await call(`${p.data}/infer`, { method: 'POST', body: '{"inputs":[1,2,3]}', headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(res.text).body, '{"inputs":[1,2,3]}');
  assert.equal(up.seen.length, 2);
  assert.deepEqual(up.seen.map((s) => s.body.toString()), ['{"inputs":[1,2,3]}', '{"inputs":[1,2,3]}']);
  assert.deepEqual(retries, [{ route: 'r', reason: '503' }]);
  assert.equal(await p.metric('outrider_retries_total', { route: 'r' }), 1);
});

test('connect and reset failures are retried on the other endpoint; 4xx and unlisted 5xx are not', async (t) => {
  const good = await startUpstream(echo);
  const reset = await startRawUpstream((_d, s) => s.resetAndDestroy());
  const notFound = await startUpstream(status(404, 'no such model'));
  const broken = await startUpstream(status(500, 'boom'));
  t.after(async () => { await Promise.all([good.close(), reset.close(), notFound.close(), broken.close()]); });
  const dead = await closedPort();
  const p = await startProxy(t, `${HEAD}
upstreams:
  - { name: dead-or-good, endpoints: [http://127.0.0.1:${dead}, ${good.origin}] }
  - { name: reset-or-good, endpoints: [${reset.origin}, ${good.origin}] }
  - { name: notfound, endpoints: [${notFound.origin}] }
  - { name: broken, endpoints: [${broken.origin}] }
routes:
  - { name: connect, match: { path: /connect }, retry: { attempts: 1, on: [connect] }, backends: [ { to: dead-or-good } ] }
  - { name: reset, match: { path: /reset }, retry: { attempts: 1, on: [reset] }, backends: [ { to: reset-or-good } ] }
  - { name: notfound, match: { path: /notfound }, retry: { attempts: 3, on: [connect, reset, timeout, 503] }, backends: [ { to: notfound } ] }
  - { name: broken, match: { path: /broken }, retry: { attempts: 3, on: [503] }, backends: [ { to: broken } ] }
`);
  // One retry suffices: it avoids the endpoint that just failed.
  for (let i = 0; i < 20; i++) {
    assert.equal((await call(`${p.data}/connect`)).status, 200);
    assert.equal((await call(`${p.data}/reset`)).status, 200);
  }
  assert.equal(good.seen.length, 40);
  assert.ok(await p.metric('outrider_retries_total', { route: 'connect' }) >= 1);
  assert.ok(await p.metric('outrider_retries_total', { route: 'reset' }) >= 1);

  const nf = await call(`${p.data}/notfound`, { method: 'POST', body: 'x' });
  assert.equal(nf.status, 404);
  assert.equal(nf.text, 'no such model');
  assert.equal(notFound.seen.length, 1);
  // A 5xx the route does not list passes to the client as the upstream sent it.
  const b = await call(`${p.data}/broken`);
  assert.equal(b.status, 500);
  assert.equal(b.text, 'boom');
  assert.equal(broken.seen.length, 1);
});

test('PATCH is never repeated', async (t) => {
  const up = await startUpstream(status(503));
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: / }, retry: { attempts: 3, on: [503] }, backends: [ { to: u } ] }
`);
  assert.equal((await call(`${p.data}/`, { method: 'PATCH', body: 'x' })).status, 503);
  assert.equal(up.seen.length, 1);
  assert.equal((await call(`${p.data}/`, { method: 'DELETE' })).status, 503);
  assert.equal(up.seen.length, 1 + 4);
});

test('an attempt timeout is retried, and retries never run past the deadline', async (t) => {
  let n = 0;
  const slowThenFast = await startUpstream((req, res, body, up) => { if (n++ === 0) return; echo(req, res, body, up); });
  const slow503 = await startUpstream((req, res) => setTimeout(() => status(503)(req, res, Buffer.alloc(0), slow503), 70));
  t.after(async () => { await Promise.all([slowThenFast.close(), slow503.close()]); });
  const p = await startProxy(t, `${HEAD}
upstreams:
  - { name: stall-once, endpoints: [${slowThenFast.origin}] }
  - { name: slow503, endpoints: [${slow503.origin}] }
routes:
  - { name: attempt, match: { path: /attempt }, timeout: 2s, attemptTimeout: 100ms, retry: { attempts: 2, on: [timeout] }, backends: [ { to: stall-once } ] }
  - { name: deadline, match: { path: /deadline }, timeout: 250ms, retry: { attempts: 10, on: [503], budget: 100 }, backends: [ { to: slow503 } ] }
`);
  const skipped = p.capture<RetrySkippedEvent>(RETRY_SKIPPED);
  const a = await call(`${p.data}/attempt`);
  assert.equal(a.status, 200);
  assert.ok(a.ms >= 100 && a.ms < 600, `answered in ${a.ms} ms`);
  assert.equal(slowThenFast.seen.length, 2);

  // 70 ms per answer in a 250 ms budget: at most 4 attempts, and the answer (the last 503, or
  // 504 when the deadline cut the last attempt) comes back at the deadline, not after it.
  const d = await call(`${p.data}/deadline`);
  assert.ok(d.status === 503 || d.status === 504, `status ${d.status}`);
  assert.ok(d.ms < 250 + LATE_MS, `answered in ${d.ms} ms`);
  assert.ok(slow503.seen.length >= 2 && slow503.seen.length <= 4, `${slow503.seen.length} attempts`);
  assert.ok(skipped.every((s) => s.reason === 'deadline'));
});

test('the budget caps retries under a backend that always fails', async (t) => {
  const up = await startUpstream(status(503));
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: / }, retry: { attempts: 3, on: [503], budget: 20 }, backends: [ { to: u } ] }
`);
  const skipped = p.capture<RetrySkippedEvent>(RETRY_SKIPPED);
  const n = 400;
  let next = 0;
  // Eight clients, one request after another each: all within one budget window.
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next++ < n) assert.equal((await call(`${p.data}/`)).status, 503);
  }));
  const retries = up.seen.length - n;
  const floor = RETRY_TUNING.minRetriesPerSecond * RETRY_TUNING.windowMs / 1000;
  // Without a budget this would be 3 retries per request (1200). Per window retries stay under
  // the larger of 20% and the floor, so over the run: 20% plus at most one floor.
  assert.ok(retries <= 0.2 * n + floor + 1, `${retries} retries for ${n} requests`);
  assert.ok(retries >= 0.1 * n, `the budget is used: ${retries} retries`);
  assert.equal(await p.metric('outrider_retries_total', { route: 'r' }), retries);
  assert.ok(skipped.some((s) => s.reason === 'budget'));
  assert.ok(await p.metric('outrider_retries_skipped_total', { route: 'r', reason: 'budget' }) > 0);
  const routeStatus = await p.route('r');
  assert.equal((routeStatus['retry'] as { budgetPercent: number }).budgetPercent, 20);
});
