// The resilience policies composed in the real `outrider run` process, in front of real hung
// and failing upstreams: timeout inside retry inside breaker, the fallback after all of them,
// and what the client, the metrics and the access log see.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startOutrider } from '../helpers/outrider.ts';
import type { Running } from '../helpers/outrider.ts';
import { echo, startUpstream } from '../helpers/upstreams.ts';
import type { TestUpstream } from '../helpers/upstreams.ts';
import { call, LATE_MS, metricValue } from '../helpers/inprocess.ts';

let hung: TestUpstream;
let broken: TestUpstream;
let good: TestUpstream;
let o: Running;

before(async () => {
  hung = await startUpstream(() => { /* accepts, never answers */ });
  broken = await startUpstream((_req, res) => { res.writeHead(500, { 'content-length': '4' }); res.end('boom'); });
  good = await startUpstream(echo);
  o = await startOutrider(`
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
limits: { drainTimeout: 500ms }
upstreams:
  - { name: hung, endpoints: [${hung.origin}] }
  - { name: hung-too, endpoints: [${hung.origin}] }
  - { name: broken, endpoints: [${broken.origin}] }
  - { name: good, endpoints: [${good.origin}] }
routes:
  - name: composed
    match: { path: /composed }
    timeout: 1s
    attemptTimeout: 100ms
    retry: { attempts: 2, on: [timeout], budget: 100 }
    breaker: { failureRate: 50, minRequests: 4, window: 10s, openFor: 30s }
    backends: [ { to: hung } ]
    fallback: [ { static: { status: 200, json: { outputs: [] } } } ]
  - name: to-good
    match: { path: /to-good }
    backends: [ { to: broken } ]
    fallback: [ { to: good } ]
  - { name: hung-503, match: { path: /hung-plain }, timeout: 300ms, backends: [ { to: hung-too } ] }
  - { name: hung-static, match: { path: /hung-static }, timeout: 300ms, backends: [ { to: hung-too } ], fallback: [ { static: { status: 200, body: later } } ] }
`);
});

after(async () => {
  await o?.stop();
  await Promise.all([hung, broken, good].map((u) => u?.close()));
});

async function metrics(): Promise<string> {
  return (await fetch(`${o.admin}/metrics`)).text();
}

function accessLine(id: string | null): Promise<Record<string, unknown>> {
  return o.waitForLog((l) => l['msg'] === 'request' && l['requestId'] === id, 5_000);
}

test('timeout inside retry inside breaker, fallback after all', async () => {
  // 1: three attempts time out (100 ms each), the retries are spent, the static rung answers.
  const first = await call(`${o.data}/composed`);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-outrider-degraded'), 'static');
  assert.deepEqual(JSON.parse(first.text), { outputs: [] });
  assert.ok(first.ms >= 300 && first.ms < 1000, `answered in ${first.ms} ms`);
  assert.equal(hung.seen.length, 3);
  const line = await accessLine(first.headers.get('x-request-id'));
  assert.equal(line['degraded'], 'static');
  assert.equal(line['attempts'], 3);
  assert.equal(line['status'], 200);

  // 2: the fourth timed-out attempt opens the breaker; the retry meets it; the fallback answers.
  const second = await call(`${o.data}/composed`);
  assert.equal(second.status, 200);
  assert.equal(second.headers.get('x-outrider-degraded'), 'static');
  assert.equal(hung.seen.length, 4);

  // 3: the breaker is open: nothing goes upstream, the fallback answers at once.
  const third = await call(`${o.data}/composed`);
  assert.equal(third.status, 200);
  // Nothing was tried (seen below), and far sooner than the first request's 300 ms.
  assert.ok(third.ms < 100 + LATE_MS, `answered in ${third.ms} ms`);
  assert.equal(hung.seen.length, 4);

  const text = await metrics();
  assert.equal(metricValue(text, 'outrider_retries_total', { route: 'composed' }), 3);
  assert.equal(metricValue(text, 'outrider_breaker_state', { backend: 'hung' }), 2);
  assert.equal(metricValue(text, 'outrider_fallback_total', { route: 'composed', kind: 'static' }), 3);
  assert.equal(hung.aborted, 4, 'every timed-out attempt was cancelled upstream');
  const routes = await (await fetch(`${o.admin}/routes`)).json() as { routes: { name: string; breaker?: Record<string, { state: string }> }[] };
  assert.equal(routes.routes.find((r) => r.name === 'composed')?.breaker?.['hung']?.state, 'open');
});

test('a 5xx falls back to another backend, and the client, the metrics and the access log say so', async () => {
  const res = await call(`${o.data}/to-good`, { method: 'POST', body: '{"inputs":[]}' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-outrider-degraded'), 'fallback');
  assert.equal(res.headers.get('x-outrider-backend'), 'good');
  assert.equal(JSON.parse(res.text).body, '{"inputs":[]}');
  const line = await accessLine(res.headers.get('x-request-id'));
  assert.equal(line['degraded'], 'fallback');
  assert.equal(line['backend'], 'good');
  assert.equal(metricValue(await metrics(), 'outrider_fallback_total', { route: 'to-good', kind: 'fallback' }), 1);
});

test('with a backend fully hung, every request is answered at its deadline', async () => {
  const plain = await Promise.all(Array.from({ length: 10 }, () => call(`${o.data}/hung-plain`)));
  const fallback = await Promise.all(Array.from({ length: 10 }, () => call(`${o.data}/hung-static`)));
  const durations: number[] = [];
  for (const r of [...plain, ...fallback]) {
    assert.equal(r.status, r.text === 'later' ? 200 : 504);
    // The deadline runs from the request's arrival: the access log's duration is the proxy's
    // time; the client's own time adds concurrent connects on a small machine.
    const line = await accessLine(r.headers.get('x-request-id'));
    durations.push(line['durationMs'] as number);
    assert.ok((line['durationMs'] as number) < 300 + LATE_MS, `answered in ${String(line['durationMs'])} ms`);
    assert.ok(r.ms < 300 + LATE_MS + 100, `the client waited ${r.ms} ms`);
  }
  assert.ok(fallback.every((r) => r.status === 200));
  durations.sort((a, b) => a - b);
  assert.ok(durations[durations.length >> 1]! < 300 + 50, `median ${durations[durations.length >> 1]} ms`);
});
