// The fallback ladder against real failing loopback upstreams: which failures reach it, the
// order of its rungs, the static answer, the budget each part gets, and how it is reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, HEAD, LATE_MS, startProxy } from '../../helpers/inprocess.ts';
import { closedPort, echo, startRawUpstream, startUpstream } from '../../helpers/upstreams.ts';
import { FALLBACK } from '../../../policies/fallback/events.ts';
import type { FallbackEvent } from '../../../policies/fallback/events.ts';

const answering = (code: number, text = `status ${code}`) => startUpstream((_req, res) => {
  res.writeHead(code, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
  res.end(text);
});

test('each kind of failure falls back in order; a 4xx does not', async (t) => {
  const good = await startUpstream(echo);
  const broken = await answering(500);
  const notFound = await answering(404, 'no such model');
  const reset = await startRawUpstream((_d, s) => s.resetAndDestroy());
  t.after(async () => { await Promise.all([good.close(), broken.close(), notFound.close(), reset.close()]); });
  const dead = await closedPort();
  const dead2 = await closedPort();
  const p = await startProxy(t, `${HEAD}
upstreams:
  - { name: good, endpoints: [${good.origin}] }
  - { name: broken, endpoints: [${broken.origin}] }
  - { name: notfound, endpoints: [${notFound.origin}] }
  - { name: reset, endpoints: [${reset.origin}] }
  - { name: dead, endpoints: [http://127.0.0.1:${dead}] }
  - { name: dead2, endpoints: [http://127.0.0.1:${dead2}] }
runtimes:
  - name: never-ready
    kind: process
    command: [${JSON.stringify(process.execPath)}, -e, "setInterval(() => {}, 1000)"]
x-static: &static { static: { status: 200, json: { outputs: [], degraded: true }, headers: { Cache-Control: no-store, X-Model: none } } }
routes:
  - { name: status, match: { path: /status }, backends: [ { to: broken } ], fallback: [ { to: good }, *static ] }
  - { name: connect, match: { path: /connect }, backends: [ { to: dead } ], fallback: [ { to: dead2 }, *static ] }
  - { name: reset, match: { path: /reset }, backends: [ { to: reset } ], fallback: [ *static ] }
  - { name: noready, match: { path: /noready }, backends: [ { to: never-ready } ], fallback: [ *static ] }
  - { name: client, match: { path: /client }, backends: [ { to: notfound } ], fallback: [ *static ] }
  - { name: exhausted, match: { path: /exhausted }, backends: [ { to: broken } ], fallback: [ { to: dead } ] }
`);
  const seen = p.capture<FallbackEvent>(FALLBACK);

  const s = await call(`${p.data}/status`, { method: 'POST', body: 'the input' });
  assert.equal(s.status, 200);
  assert.equal(s.headers.get('x-outrider-degraded'), 'fallback');
  assert.equal(s.headers.get('x-outrider-backend'), 'good');
  assert.equal(JSON.parse(s.text).body, 'the input', 'the body is replayed to the fallback backend');

  for (const path of ['/connect', '/reset', '/noready']) {
    const r = await call(`${p.data}${path}`);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('x-outrider-degraded'), 'static');
    assert.equal(r.headers.get('x-outrider-backend'), 'none');
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('x-model'), 'none');
    assert.deepEqual(JSON.parse(r.text), { outputs: [], degraded: true });
  }

  const c = await call(`${p.data}/client`);
  assert.equal(c.status, 404);
  assert.equal(c.text, 'no such model');
  assert.equal(c.headers.get('x-outrider-degraded'), null);

  const e = await call(`${p.data}/exhausted`);
  assert.equal(e.status, 503);
  assert.equal(JSON.parse(e.text).error.code, 'unavailable');
  assert.equal(e.headers.get('retry-after'), '1');

  assert.deepEqual(seen.map((x) => [x.route, x.kind, x.cause]), [
    ['status', 'fallback', 'status_500'],
    ['connect', 'static', 'connect'],
    ['reset', 'static', 'reset'],
    ['noready', 'static', 'no_endpoint'],
    ['exhausted', 'exhausted', 'status_500'],
  ]);
  assert.equal(await p.metric('outrider_fallback_total', { route: 'status', kind: 'fallback' }), 1);
  assert.equal(await p.metric('outrider_fallback_total', { route: 'connect', kind: 'static' }), 1);
  assert.equal(await p.metric('outrider_fallback_total', { route: 'exhausted', kind: 'exhausted' }), 1);
});

test('the primary keeps 75% of the budget, a hung fallback backend leaves time for the static rung, nothing outlives the deadline', async (t) => {
  const hung = await startUpstream(() => { /* never answers */ });
  const hung2 = await startUpstream(() => { /* never answers */ });
  t.after(async () => { await Promise.all([hung.close(), hung2.close()]); });
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: hung, endpoints: [${hung.origin}] }, { name: hung2, endpoints: [${hung2.origin}] } ]
routes:
  - { name: static, match: { path: /static }, timeout: 400ms, backends: [ { to: hung } ], fallback: [ { static: { status: 200, body: ok } } ] }
  - { name: ladder, match: { path: /ladder }, timeout: 400ms, backends: [ { to: hung } ], fallback: [ { to: hung2 }, { static: { status: 200, body: ok } } ] }
  - { name: nothing, match: { path: /nothing }, timeout: 400ms, backends: [ { to: hung } ], fallback: [ { to: hung2 } ] }
`);
  const s = await call(`${p.data}/static`);
  assert.equal(s.status, 200);
  assert.equal(s.text, 'ok');
  assert.ok(s.ms >= 290 && s.ms < 300 + LATE_MS, `static after the primary's 75%: ${s.ms} ms`);
  const told = Number(hung.seen.at(-1)?.headers['x-timeout-ms']);
  assert.ok(told >= 290 && told <= 300, `the primary attempt was told its budget: ${told} ms`);

  const l = await call(`${p.data}/ladder`);
  assert.equal(l.status, 200);
  assert.equal(l.headers.get('x-outrider-degraded'), 'static');
  assert.ok(l.ms < 400 + LATE_MS, `answered in ${l.ms} ms`);
  assert.equal(hung2.seen.length, 1);

  const n = await call(`${p.data}/nothing`);
  assert.equal(n.status, 504);
  assert.ok(n.ms < 400 + LATE_MS, `answered in ${n.ms} ms`);
  // Every abandoned attempt was cancelled upstream, none is left computing.
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(hung.aborted, hung.seen.length);
  assert.equal(hung2.aborted, hung2.seen.length);
});
