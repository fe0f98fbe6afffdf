// Edge protections (SPEC §2 limits, §3 statuses) against the real process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { request } from 'undici';
import { startOutrider } from '../helpers/outrider.ts';
import type { Running } from '../helpers/outrider.ts';
import { echo, startUpstream } from '../helpers/upstreams.ts';
import type { TestUpstream } from '../helpers/upstreams.ts';

let good: TestUpstream;
let slow: TestUpstream;
let o: Running;

before(async () => {
  good = await startUpstream(echo);
  slow = await startUpstream((req, res, body, up) => setTimeout(() => echo(req, res, body, up), 400));
  o = await startOutrider(`
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
limits: { maxHeaderBytes: 2KiB, maxBodyBytes: 1KiB, maxInFlight: 3, headersTimeout: 300ms, bodyTimeout: 300ms, drainTimeout: 2s }
upstreams:
  - { name: good, endpoints: [${good.origin}] }
  - { name: slow, endpoints: [${slow.origin}] }
routes:
  - { name: slow, match: { path: /slow }, backends: [ { to: slow } ] }
  - { name: main, match: { path: /, prefix: true }, backends: [ { to: good } ] }
`);
});

after(async () => {
  await o?.stop();
  await good?.close();
  await slow?.close();
});

test('a request head over maxHeaderBytes is 431 headers_too_large', async () => {
  const res = await raw(o.data, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`);
  assert.match(res, /^HTTP\/1\.1 431/);
  assert.match(res, /"code":"headers_too_large"/);
  assert.match(res, /x-request-id: /i);
});

test('a declared body over maxBodyBytes is 413 before it is read', async () => {
  const res = await request(`${o.data}/up`, { method: 'POST', body: 'x'.repeat(2048) });
  assert.equal(res.statusCode, 413);
  const body = await res.body.json() as { error: { code: string } };
  assert.equal(body.error.code, 'body_too_large');
});

test('a chunked body is cut at maxBodyBytes while streaming', async () => {
  const before = good.seen.length;
  const text = await raw(o.data, 'POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
    `400\r\n${'a'.repeat(1024)}\r\n400\r\n${'b'.repeat(1024)}\r\n0\r\n\r\n`);
  assert.match(text, /^HTTP\/1\.1 413/);
  assert.match(text, /"code":"body_too_large"/);
  assert.equal(good.seen.length, before, 'the upstream never got a complete oversized body');
});

test('a slow head gets the connection closed (slowloris)', async () => {
  const t0 = performance.now();
  const closed = await new Promise<number>((resolve) => {
    const u = new URL(o.data);
    const s = net.connect(Number(u.port), u.hostname, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n'));
    const drip = setInterval(() => { if (s.writable) s.write('X-A: b\r\n'); }, 100);
    s.on('data', () => undefined);
    s.on('close', () => { clearInterval(drip); resolve(performance.now() - t0); });
    s.on('error', () => undefined);
  });
  assert.ok(closed < 2500, `closed after ${closed} ms`);
});

test('a slow body is 408 request_timeout', async () => {
  const t0 = performance.now();
  const text = await new Promise<string>((resolve) => {
    const u = new URL(o.data);
    let out = '';
    const s = net.connect(Number(u.port), u.hostname, () => s.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc'));
    s.on('data', (d) => { out += d.toString(); });
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
  });
  const ms = performance.now() - t0;
  assert.match(text, /^HTTP\/1\.1 408/);
  assert.match(text, /"code":"request_timeout"/);
  assert.ok(ms >= 250 && ms < 2500, `answered after ${ms} ms`);
});

test('above maxInFlight requests are shed at once with 503 overloaded and Retry-After', async () => {
  const slowOnes = [1, 2, 3].map(() => request(`${o.data}/slow`));
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  const shed = await request(`${o.data}/up`);
  const ms = performance.now() - t0;
  assert.equal(shed.statusCode, 503);
  assert.equal(shed.headers['retry-after'], '1');
  assert.equal((await shed.body.json() as { error: { code: string } }).error.code, 'overloaded');
  assert.ok(ms < 100, `shed after ${ms} ms`);
  for (const r of await Promise.all(slowOnes)) {
    assert.equal(r.statusCode, 200);
    await r.body.dump();
  }
  const m = await (await request(`${o.admin}/metrics`)).body.text();
  assert.match(m, /outrider_shed_total\{reason="max_in_flight"\} [1-9]/);
  // Admin is not subject to the data port's limits.
  assert.equal((await request(`${o.admin}/healthz`)).statusCode, 200);
});

async function raw(origin: string, text: string): Promise<string> {
  const u = new URL(origin);
  return await new Promise((resolve) => {
    let out = '';
    const s = net.connect(Number(u.port), u.hostname, () => s.write(text));
    s.on('data', (d) => { out += d.toString(); });
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    s.setTimeout(3000, () => s.destroy());
  });
}
