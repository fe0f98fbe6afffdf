// Weighted split, sticky keys and failover through the real `outrider run` process, with real
// loopback upstreams (and a real runtime process that never becomes ready).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { startOutrider } from '../helpers/outrider.ts';
import type { Running } from '../helpers/outrider.ts';
import { closedPort, startUpstream } from '../helpers/upstreams.ts';
import type { Behaviour, TestUpstream } from '../helpers/upstreams.ts';

const named = (name: string): Behaviour => (_req, res) => {
  const text = JSON.stringify({ backend: name });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const agent = new Agent({ connections: 32, keepAliveTimeout: 10_000 });
let a: TestUpstream;
let b: TestUpstream;
let o: Running;

before(async () => {
  a = await startUpstream(named('a'));
  b = await startUpstream(named('b'));
  const dead = await closedPort();
  o = await startOutrider(`
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
runtimes:
  - name: broken
    kind: process
    command: [${JSON.stringify(process.execPath)}, -e, "process.exit(3)"]
    health: { startupTimeout: 60s }
    restart: { minBackoff: 30s, maxBackoff: 60s }
upstreams:
  - { name: a, endpoints: [${a.origin}] }
  - { name: b, endpoints: [${b.origin}] }
  - { name: dead, endpoints: [http://127.0.0.1:${dead}] }
routes:
  - { name: split, match: { path: /split }, backends: [ { to: a, weight: 70 }, { to: b, weight: 30 } ] }
  - name: sticky
    match: { path: /sticky }
    backends: [ { to: a, weight: 50 }, { to: b, weight: 50 } ]
    sticky: { header: x-user-id }
  - name: failover
    match: { path: /failover }
    backends: [ { to: dead, weight: 80 }, { to: b, weight: 20 } ]
    sticky: { header: x-user-id }
    breaker: { failureRate: 50, minRequests: 5, window: 10s, openFor: 30s }
  - { name: notready, match: { path: /notready }, backends: [ { to: broken, weight: 90 }, { to: b, weight: 10 } ] }
`);
});

after(async () => {
  await o?.stop();
  await Promise.all([a, b].map((u) => u?.close()));
  await agent.close();
});

async function hit(path: string, headers: Record<string, string> = {}): Promise<{ status: number; backend: string | undefined }> {
  const res = await request(`${o.data}${path}`, { headers, dispatcher: agent });
  const body = await res.body.json() as { backend?: string };
  return { status: res.statusCode, backend: body.backend };
}

async function many(n: number, path: string, headers: (i: number) => Record<string, string> = () => ({})): Promise<{ status: number; backend: string | undefined }[]> {
  const out: { status: number; backend: string | undefined }[] = [];
  for (let i = 0; i < n; i += 16) {
    out.push(...await Promise.all(Array.from({ length: Math.min(16, n - i) }, (_, k) => hit(path, headers(i + k)))));
  }
  return out;
}

async function routes(): Promise<Record<string, { backends: { name: string; weight: number; up: boolean; effectiveWeightPercent: number; endpoints: { latencyEwmaMs: number | null }[] }[] }>> {
  const r = await request(`${o.admin}/routes`);
  const body = await r.body.json() as { routes: { name: string; backends: never }[] };
  return Object.fromEntries(body.routes.map((x) => [x.name, x]));
}

test('requests are split by weight', async () => {
  // The precise ±1 point bar is the unit test's and the bench's; here, the wiring.
  const got = await many(800, '/split');
  const toA = got.filter((r) => r.backend === 'a').length / got.length;
  assert.ok(got.every((r) => r.status === 200));
  // Smooth weighted round-robin: exact over any stretch of requests.
  assert.ok(Math.abs(toA - 0.7) < 0.01, `a got ${toA * 100}%`);
  const r = await routes();
  assert.deepEqual(r['split']!.backends.map((x) => [x.name, x.effectiveWeightPercent]), [['a', 70], ['b', 30]]);
  assert.ok(typeof r['split']!.backends[0]!.endpoints[0]!.latencyEwmaMs === 'number', '/routes shows the endpoint latency estimate');
});

test('the same sticky header value keeps its backend; keys spread over both', async () => {
  const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
  const first = await many(keys.length, '/sticky', (i) => ({ 'x-user-id': keys[i]! }));
  const again = await many(keys.length * 5, '/sticky', (i) => ({ 'x-user-id': keys[i % keys.length]! }));
  for (let i = 0; i < again.length; i++) assert.equal(again[i]!.backend, first[i % keys.length]!.backend, keys[i % keys.length]);
  const toA = first.filter((r) => r.backend === 'a').length;
  assert.ok(toA > 5 && toA < 35, `${toA} of 40 keys on a`);
});

test('a backend whose breaker opened gets no traffic; its share and its sticky keys go to the rest', async () => {
  // The dead upstream refuses connections: its breaker opens after 5 failures of its 80% share.
  const early = await many(40, '/failover', (i) => ({ 'x-user-id': `k${i}` }));
  assert.ok(early.some((r) => r.status === 503), 'the dead backend failed some requests before its breaker opened');
  const later = await many(200, '/failover', (i) => ({ 'x-user-id': `k${i}` }));
  assert.ok(later.every((r) => r.status === 200 && r.backend === 'b'), JSON.stringify(later.filter((r) => r.backend !== 'b').slice(0, 3)));
  const r = await routes();
  assert.deepEqual(r['failover']!.backends.map((x) => [x.name, x.up, x.effectiveWeightPercent]), [['dead', false, 0], ['b', true, 100]]);
});

test('a runtime with no ready replica gets no traffic', async () => {
  const got = await many(100, '/notready');
  assert.ok(got.every((r) => r.status === 200 && r.backend === 'b'));
  const r = await routes();
  assert.deepEqual(r['notready']!.backends.map((x) => [x.name, x.up, x.effectiveWeightPercent]), [['broken', false, 0], ['b', true, 100]]);
});
