// The real `outrider run` process in front of real loopback upstreams, well-behaved and not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { request } from 'undici';
import { startOutrider } from '../helpers/outrider.ts';
import type { Running } from '../helpers/outrider.ts';
import { closedPort, echo, startRawUpstream, startUpstream } from '../helpers/upstreams.ts';
import type { TestUpstream } from '../helpers/upstreams.ts';

let good: TestUpstream;
let stall: TestUpstream;
let midReset: TestUpstream;
let garbage: { origin: string; close(): Promise<void> };
let reset: { origin: string; close(): Promise<void> };
let big: TestUpstream;
let drip: TestUpstream;
let o: Running;
const BIG = Buffer.alloc(2 * 1024 * 1024, 'abcdefghij');

before(async () => {
  good = await startUpstream(echo);
  stall = await startUpstream(() => { /* never answers */ });
  midReset = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
    res.write('partial');
    setTimeout(() => res.socket?.destroy(), 20);
  });
  garbage = await startRawUpstream((_d, s) => s.end('HTTP/1.1 2x0 WHAT\r\n\r\nnonsense'));
  reset = await startRawUpstream((_d, s) => s.resetAndDestroy());
  big = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG.length) });
    res.end(BIG);
  });
  // The head first, the body in three parts 30 ms apart: it is not whole when the head is.
  drip = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '9' });
    res.flushHeaders();
    let n = 0;
    const t = setInterval(() => {
      n++;
      if (n < 3) res.write(`part${n}`.slice(0, 3));
      else { clearInterval(t); res.end('end'); }
    }, 30);
  });
  const dead = await closedPort();
  o = await startOutrider(`
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams:
  - { name: good, endpoints: [${good.origin}] }
  - { name: stall, endpoints: [${stall.origin}] }
  - { name: midreset, endpoints: [${midReset.origin}] }
  - { name: garbage, endpoints: [${garbage.origin}] }
  - { name: reset, endpoints: [${reset.origin}] }
  - { name: big, endpoints: [${big.origin}] }
  - { name: drip, endpoints: [${drip.origin}] }
  - { name: dead, endpoints: [http://127.0.0.1:${dead}] }
routes:
  - { name: stall, match: { path: /stall }, timeout: 300ms, backends: [ { to: stall } ] }
  - { name: attempt, match: { path: /attempt }, timeout: 2s, attemptTimeout: 150ms, backends: [ { to: stall } ] }
  - { name: midreset, match: { path: /midreset }, backends: [ { to: midreset } ] }
  - { name: garbage, match: { path: /garbage }, backends: [ { to: garbage } ] }
  - { name: reset, match: { path: /reset }, backends: [ { to: reset } ] }
  - { name: big, match: { path: /big }, backends: [ { to: big } ] }
  - { name: drip, match: { path: /drip }, backends: [ { to: drip } ] }
  - { name: dead, match: { path: /dead }, backends: [ { to: dead } ] }
  - { name: posts, match: { path: /api/, prefix: true, methods: [POST] }, backends: [ { to: good } ] }
  - { name: tenant, match: { path: /t, headers: { x-tenant: blue } }, backends: [ { to: good } ] }
  - { name: main, match: { path: /, prefix: true, methods: [GET, POST] }, timeout: 5s, backends: [ { to: good } ] }
`);
});

after(async () => {
  await o?.stop();
  await Promise.all([good, stall, midReset, garbage, reset, big, drip].map((u) => u?.close()));
});

async function json(res: { body: { json(): Promise<unknown> } }): Promise<{ error: { code: string; message: string; requestId: string } }> {
  return await res.body.json() as { error: { code: string; message: string; requestId: string } };
}

test('forwards with request id, deadline, forwarding headers and no hop-by-hop headers', async () => {
  // node:http, since undici refuses to send hop-by-hop headers at all.
  const res = await httpRequest(`${o.data}/hello?x=1`, 'POST', {
    'content-type': 'application/json',
    connection: 'keep-alive, x-secret-hop',
    'x-secret-hop': 'do-not-forward',
    'keep-alive': 'timeout=5',
    'x-forwarded-for': '203.0.113.9',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    'x-timeout-ms': '2500',
    // A client cannot pass for the proxy's own warmup, nor tell an upstream it is one.
    'x-outrider-warmup': 'forged',
    'x-outrider-warmup-backend': 'good',
  }, JSON.stringify({ a: 1 }));
  assert.equal(res.status, 200);
  const id = res.headers['x-request-id'];
  assert.match(String(id), /^[A-Za-z0-9._:-]{1,128}$/);
  assert.equal(res.headers['x-outrider-backend'], 'good');
  assert.match(String(res.headers['via']), /1\.1 outrider/);
  assert.equal(res.headers['x-upstream'], 'echo');
  const got = JSON.parse(res.body) as { url: string; body: string; headers: Record<string, string> };
  assert.equal(got.url, '/hello?x=1');
  assert.equal(got.body, '{"a":1}');
  assert.equal(got.headers['x-request-id'], id);
  assert.equal(got.headers['x-secret-hop'], undefined);
  assert.equal(got.headers['keep-alive'], undefined);
  assert.equal(got.headers['x-outrider-warmup'], undefined);
  assert.equal(got.headers['x-outrider-warmup-backend'], undefined);
  assert.equal(got.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(got.headers['x-forwarded-proto'], 'http');
  assert.match(got.headers['x-forwarded-host']!, /^127\.0\.0\.1:\d+$/);
  assert.equal(got.headers['traceparent'], '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  const budget = Number(got.headers['x-timeout-ms']);
  assert.ok(budget > 2000 && budget <= 2500, `x-timeout-ms upstream was ${budget}`);
});

test('keeps a valid incoming request id and replaces an invalid one', async () => {
  const kept = await request(`${o.data}/x`, { headers: { 'x-request-id': 'client-id.42:a' } });
  assert.equal(kept.headers['x-request-id'], 'client-id.42:a');
  const echoed = await kept.body.json() as { headers: Record<string, string> };
  assert.equal(echoed.headers['x-request-id'], 'client-id.42:a');
  const bad = await request(`${o.data}/x`, { headers: { 'x-request-id': 'has space<script>' } });
  assert.notEqual(bad.headers['x-request-id'], 'has space<script>');
  assert.match(String(bad.headers['x-request-id']), /^[A-Za-z0-9._:-]+$/);
  await bad.body.dump();
  const long = await request(`${o.data}/x`, { headers: { 'x-request-id': 'a'.repeat(129) } });
  assert.notEqual(long.headers['x-request-id'], 'a'.repeat(129));
  await long.body.dump();
});

test('matches on method and headers; no match is 404 no_route with the JSON error model', async () => {
  const get = await request(`${o.data}/api/x`);  // GET falls through to `main`
  assert.equal(get.statusCode, 200);
  await get.body.dump();
  const t = await request(`${o.data}/t`, { headers: { 'x-tenant': 'blue' } });
  assert.equal(t.statusCode, 200);
  await t.body.dump();
  const none = await request(`${o.data}/t`, { headers: { 'x-tenant': 'red' } });
  assert.equal(none.statusCode, 200);  // `main` (prefix /) catches it
  await none.body.dump();
  const del = await request(`${o.data}/t`, { method: 'DELETE' });
  assert.equal(del.statusCode, 404);
  const body = await json(del);
  assert.equal(body.error.code, 'no_route');
  assert.equal(body.error.requestId, del.headers['x-request-id']);
  assert.equal(del.headers['content-type'], 'application/json');
});

test('route deadline: a stalled upstream is answered 504 at the budget and the attempt is aborted', async () => {
  const before = stall.aborted;
  const t0 = performance.now();
  const res = await request(`${o.data}/stall`);
  const ms = performance.now() - t0;
  assert.equal(res.statusCode, 504);
  const body = await json(res);
  assert.equal(body.error.code, 'deadline_exceeded');
  assert.equal(body.error.requestId, res.headers['x-request-id']);
  assert.ok(ms >= 280 && ms < 1000, `answered after ${ms} ms`);
  await waitFor(() => stall.aborted > before);
});

test('client x-timeout-ms shrinks the budget', async () => {
  const t0 = performance.now();
  const res = await request(`${o.data}/stall`, { headers: { 'x-timeout-ms': '100' } });
  const ms = performance.now() - t0;
  assert.equal(res.statusCode, 504);
  await res.body.dump();
  assert.ok(ms < 280, `answered after ${ms} ms`);
  const bad = await request(`${o.data}/x`, { headers: { 'x-timeout-ms': 'soon' } });
  assert.equal(bad.statusCode, 400);
  assert.equal((await json(bad)).error.code, 'invalid_request');
});

test('attemptTimeout ends an attempt before the route budget', async () => {
  const t0 = performance.now();
  const res = await request(`${o.data}/attempt`);
  const ms = performance.now() - t0;
  assert.equal(res.statusCode, 504);
  await res.body.dump();
  assert.ok(ms >= 140 && ms < 1000, `answered after ${ms} ms`);
  const last = stall.seen.at(-1)!;
  assert.ok(Number(last.headers['x-timeout-ms']) <= 150);
});

test('a client that goes away aborts the upstream request', async () => {
  const before = stall.aborted;
  const ac = new AbortController();
  const p = request(`${o.data}/stall`, { signal: ac.signal }).catch((e: unknown) => e);
  await waitFor(() => stall.seen.length > 0 && stall.seen.length >= 1);
  await new Promise((r) => setTimeout(r, 50));
  ac.abort();
  await p;
  await waitFor(() => stall.aborted > before, 2000);
});

test('upstream failures map to 502 / 503 and never crash the proxy', async () => {
  for (const [path, status, code] of [['/garbage', 502, 'bad_gateway'], ['/reset', 502, 'bad_gateway'], ['/dead', 503, 'unavailable']] as const) {
    const res = await request(`${o.data}${path}`);
    assert.equal(res.statusCode, status, path);
    const body = await json(res);
    assert.equal(body.error.code, code, path);
    assert.doesNotMatch(body.error.message, /at |\/work\/|node_modules/, 'no stack or paths in responses');
    if (status === 503) assert.equal(res.headers['retry-after'], '1');
  }
  // A reset after the headers went out can only cut the response short.
  const res = await request(`${o.data}/midreset`);
  assert.equal(res.statusCode, 200);
  await assert.rejects(res.body.text());
  const ok = await request(`${o.data}/x`);
  assert.equal(ok.statusCode, 200, 'the pool is healthy afterwards');
  await ok.body.dump();
});

test('answers that are not whole with their head stream through intact: 2 MiB, and a body dripped in parts', async () => {
  for (let i = 0; i < 2; i++) {
    const res = await request(`${o.data}/big`);
    assert.equal(res.statusCode, 200);
    const got = Buffer.from(await res.body.arrayBuffer());
    assert.equal(got.length, BIG.length);
    assert.ok(got.equals(BIG), 'byte for byte');
  }
  const res = await request(`${o.data}/drip`);
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'parparend');
});

test('refuses dot segments and ambiguous framing with 400', async () => {
  const dots = await rawRequest(o.data, 'GET /api/../admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(dots, /^HTTP\/1\.1 400/);
  const both = await rawRequest(o.data, 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  assert.match(both, /^HTTP\/1\.1 400/);
  assert.match(both, /"code":"invalid_request"/);
  const dup = await rawRequest(o.data, 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd');
  assert.match(dup, /^HTTP\/1\.1 400/);
});

test('metrics and access log record the requests with bounded labels', async () => {
  const res = await request(`${o.data}/metrics-probe`, { headers: { 'x-request-id': 'probe-123' } });
  await res.body.dump();
  const m = await (await request(`${o.admin}/metrics`)).body.text();
  assert.match(m, /outrider_requests_total\{route="main",backend="good",code="200"\} \d+/);
  assert.match(m, /outrider_requests_total\{route="stall",backend="stall",code="504"\} \d+/);
  assert.match(m, /outrider_request_duration_seconds_bucket\{le="[^"]+",route="main",backend="good"\}/);
  assert.match(m, /outrider_upstream_duration_seconds_count\{backend="good"\} \d+/);
  assert.match(m, /outrider_errors_total\{route="stall",code="deadline_exceeded"\} \d+/);
  assert.doesNotMatch(m, /probe-123|metrics-probe/, 'no request ids or paths in labels');
  const line = await o.waitForLog((l) => l['requestId'] === 'probe-123');
  assert.equal(line['route'], 'main');
  assert.equal(line['backend'], 'good');
  assert.equal(line['status'], 200);
  assert.equal(line['path'], '/metrics-probe');
  assert.equal(typeof line['durationMs'], 'number');
  assert.ok((line['bytesOut'] as number) > 0);
});

function httpRequest(url: string, method: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function rawRequest(origin: string, text: string): Promise<string> {
  const url = new URL(origin);
  return await new Promise((resolve, reject) => {
    const s = net.connect(Number(url.port), url.hostname, () => s.write(text));
    let out = '';
    s.on('data', (d) => { out += d.toString(); });
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(3000, () => { s.destroy(); resolve(out); });
  });
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
