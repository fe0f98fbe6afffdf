// A connection that cannot be made sent nothing, so Outrider sends the request to another ready
// endpoint once, even on a route without `retry`: an endpoint that has just died must not fail
// requests its peers can serve. Bodies of known length up to 64 KiB are buffered for that.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { startOutrider } from '../helpers/outrider.ts';
import { closedPort, echo, startRawUpstream, startUpstream } from '../helpers/upstreams.ts';

const config = (endpoints: string[], outlier = '') => `
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams:
  - name: pair
    endpoints: [${endpoints.join(', ')}]
${outlier}
routes:
  - name: all
    match: { path: /, prefix: true }
    timeout: 5s
    balance: round-robin
    backends: [ { to: pair } ]
`;

test('connection refused on one endpoint: requests without a body or with a small one are served by the other, without a retry policy', async (t) => {
  const live = await startUpstream(echo);
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const o = await startOutrider(config([dead, live.origin]));
  t.after(async () => { await o.stop(); await live.close(); });

  const n = 20;
  for (let i = 0; i < n; i++) {
    const r = await request(`${o.data}/v2/models/m?i=${i}`);
    const text = await r.body.text();
    assert.equal(r.statusCode, 200, text.slice(0, 300));
    assert.equal((JSON.parse(text) as { url: string }).url, `/v2/models/m?i=${i}`);
  }
  // An inference-sized POST body (known length, up to 64 KiB) is buffered to be re-sent.
  for (let i = 0; i < n; i++) {
    const body = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 1000], datatype: 'FP32', data: Array.from({ length: 1000 }, (_, k) => k * i) }] });
    const r = await request(`${o.data}/v2/models/m/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await r.body.text();
    assert.equal(r.statusCode, 200, text.slice(0, 300));
    assert.equal((JSON.parse(text) as { body: string }).body, body, 'the whole body arrived');
  }
  assert.equal(live.seen.length, 2 * n, 'each request reached the live endpoint exactly once');
  const m = await (await request(`${o.admin}/metrics`)).body.text();
  assert.match(m, /outrider_requests_total\{[^}]*route="all"[^}]*code="200"[^}]*\} 40/);
  assert.match(m, /outrider_retries_total\{route="all"\} 20/, 'round-robin sent every other request to the dead endpoint first');
});

test('connection refused with no other endpoint: 503 unavailable, not a hang', async (t) => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const o = await startOutrider(config([dead]));
  t.after(async () => { await o.stop(); });
  const r = await request(`${o.data}/x`, { method: 'POST', body: 'hello' });
  assert.equal(r.statusCode, 503);
  assert.equal(((await r.body.json()) as { error: { code: string } }).error.code, 'unavailable');
});

test('the refused attempt still counts for outlier ejection: once the dead endpoint is ejected, nothing is re-sent', async (t) => {
  const live = await startUpstream(echo);
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const o = await startOutrider(config([dead, live.origin], '    outlier: { consecutiveFailures: 2, ejectFor: 30s }'));
  t.after(async () => { await o.stop(); await live.close(); });
  for (let i = 0; i < 20; i++) {
    const r = await request(`${o.data}/x`);
    assert.equal(r.statusCode, 200);
    await r.body.dump();
  }
  const m = await (await request(`${o.admin}/metrics`)).body.text();
  const retries = Number(/outrider_retries_total\{route="all"\} (\d+)/.exec(m)?.[1] ?? 'NaN');
  assert.equal(retries, 2, 'two refused attempts ejected the dead endpoint; the rest went to the live one directly');
});

test('what may have reached the server is not re-sent: a reset, and a body too large to buffer', async (t) => {
  const live = await startUpstream(echo);
  const reset = await startRawUpstream((_d, s) => s.resetAndDestroy());
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const o1 = await startOutrider(config([reset.origin, live.origin]));
  const o2 = await startOutrider(config([dead, live.origin]));
  t.after(async () => { await o1.stop(); await o2.stop(); await live.close(); await reset.close(); });

  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await request(`${o1.data}/x`);
    statuses.push(r.statusCode);
    await r.body.dump();
  }
  assert.deepEqual(statuses.sort(), [200, 200, 502, 502], 'the reset attempts fail: the request may have been handled');

  // Over 64 KiB the body streams; undici destroys it with the refused attempt, so it cannot go again.
  const big = 'x'.repeat(100 * 1024);
  const bigStatuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await request(`${o2.data}/x`, { method: 'POST', body: big });
    bigStatuses.push(r.statusCode);
    await r.body.dump();
  }
  assert.deepEqual(bigStatuses.sort(), [200, 200, 503, 503]);
});
