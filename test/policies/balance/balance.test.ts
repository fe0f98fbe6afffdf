// Endpoint picking against real loopback servers: requests go out with undici and every answer
// is fed back to the picker the way proxy/forward.ts does (in-flight count, latency, outcome).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { EndpointPicker } from '../../../proxy/balance.ts';
import type { BalanceMode } from '../../../proxy/balance.ts';
import type { Endpoint } from '../../../runtime/types.ts';

interface Server { readonly origin: string; delayMs: number; close(): Promise<void> }

async function server(): Promise<Server> {
  const s: Server = { origin: '', delayMs: 0, close: async () => undefined };
  const srv = http.createServer((_req, res) => {
    const reply = () => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); };
    if (s.delayMs > 0) setTimeout(reply, s.delayMs); else reply();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  Object.assign(s, {
    origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
  });
  return s;
}

const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await agent.close();
});

async function fleet(n: number): Promise<{ servers: Server[]; endpoints: Endpoint[] }> {
  const ss = await Promise.all(Array.from({ length: n }, () => server()));
  servers.push(...ss);
  return { servers: ss, endpoints: ss.map((s, i) => ({ id: `b/${i}`, origin: s.origin, backend: 'b' })) };
}

/** `concurrency` workers sending until `count` requests are done; the share of each endpoint. */
async function drive(picker: EndpointPicker, endpoints: () => readonly Endpoint[], count: number, concurrency: number, mode: BalanceMode = 'p2c-ewma'): Promise<Map<string, number>> {
  const hits = new Map<string, number>();
  let left = count;
  const worker = async () => {
    while (left-- > 0) {
      const e = picker.pick(endpoints(), mode)!;
      hits.set(e.id, (hits.get(e.id) ?? 0) + 1);
      const stats = picker.statsFor(e.id);
      stats.inFlight++;
      const start = performance.now();
      try {
        const res = await agent.request({ origin: e.origin, path: '/', method: 'GET' });
        await res.body.text();
        const end = performance.now();
        stats.observe(end - start, res.statusCode < 500, end);
      } finally {
        stats.inFlight--;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return hits;
}

const share = (hits: Map<string, number>, id: string): number => {
  let total = 0;
  for (const v of hits.values()) total += v;
  return (hits.get(id) ?? 0) / total;
};

test('p2c-ewma steers away from a slowed endpoint at once and takes it back after it recovers', async () => {
  const { servers: ss, endpoints } = await fleet(4);
  const picker = new EndpointPicker(300);
  await drive(picker, () => endpoints, 400, 4);
  ss[0]!.delayMs = 40;
  // The first slow answers raise its estimate to the peak at once.
  await drive(picker, () => endpoints, 200, 4);
  const slowed = await drive(picker, () => endpoints, 800, 4);
  assert.ok(share(slowed, 'b/0') < 0.05, `the slowed endpoint still got ${share(slowed, 'b/0')}`);
  ss[0]!.delayMs = 0;
  // Having lost every contest it is retried once its estimate decays to the others' (τ = 300 ms here).
  await new Promise((r) => setTimeout(r, 1_500));
  const recovered = await drive(picker, () => endpoints, 1_200, 4);
  assert.ok(share(recovered, 'b/0') > 0.12, `the recovered endpoint got only ${share(recovered, 'b/0')}`);
});

test('round-robin keeps sending a quarter of the requests to the slowed endpoint', async () => {
  const { servers: ss, endpoints } = await fleet(4);
  ss[2]!.delayMs = 20;
  const hits = await drive(new EndpointPicker(), () => endpoints, 200, 4, 'round-robin');
  assert.ok(Math.abs(share(hits, 'b/2') - 0.25) < 0.02, String(share(hits, 'b/2')));
});

test('in-flight requests count: a hung endpoint is avoided before any answer comes back', async () => {
  const { servers: ss, endpoints } = await fleet(3);
  const picker = new EndpointPicker();
  await drive(picker, () => endpoints, 300, 3);
  ss[1]!.delayMs = 1_500;
  const hits = await drive(picker, () => endpoints, 300, 6);
  // Its first requests are stuck in flight: cost = estimate × (in flight + 1) keeps it out.
  assert.ok((hits.get('b/1') ?? 0) <= 8, `${hits.get('b/1')} requests went to the hung endpoint`);
});

test('a new endpoint starts at the median estimate: warmed into rotation, not flooded', async () => {
  const { servers: ss, endpoints } = await fleet(4);
  const picker = new EndpointPicker();
  const live = endpoints.slice(0, 3);
  await drive(picker, () => live, 300, 3);
  // Clearly slower than the others even when this machine's loopback jitters by milliseconds.
  ss[3]!.delayMs = 20;
  live.push(endpoints[3]!);
  const hits = await drive(picker, () => live, 600, 3);
  const s = share(hits, 'b/3');
  // Neutral at first, then its own (slower) answers put it behind the others; never the flood a
  // zero estimate would draw.
  assert.ok(s > 0 && s < 0.2, `the new endpoint got ${s}`);
});

test('ejected endpoints are never picked unless all are; a restarted replica starts neutral', async () => {
  const { endpoints } = await fleet(3);
  const picker = new EndpointPicker();
  picker.ejected.add('b/0');
  for (const mode of ['p2c-ewma', 'round-robin'] as const) {
    for (let i = 0; i < 300; i++) assert.notEqual(picker.pick(endpoints, mode)!.id, 'b/0');
  }
  picker.ejected.add('b/1');
  picker.ejected.add('b/2');
  assert.ok(picker.pick(endpoints) !== null, 'every endpoint ejected: one still serves');

  picker.ejected.clear();
  await drive(picker, () => endpoints, 200, 2);
  assert.ok(picker.statsFor('b/1').observed);
  const moved = endpoints.map((e) => (e.id === 'b/1' ? { ...e, origin: 'http://127.0.0.1:1' } : e));
  for (let i = 0; i < 50; i++) picker.pick(moved);
  assert.equal(picker.statsFor('b/1').observed, false);
  assert.equal(picker.statsFor('b/1').origin, 'http://127.0.0.1:1');
});

test('the estimate is a decaying peak: a slow answer replaces it, time brings it down', () => {
  const picker = new EndpointPicker(1_000);
  const s = picker.statsFor('x');
  s.observe(10, true, 1_000);
  s.observe(2, true, 1_001);
  assert.ok(Math.abs(s.estimate(1_001) - 10 * Math.exp(-1 / 1_000)) < 1e-9, 'a faster answer does not pull it down at once');
  s.observe(50, true, 1_002);
  assert.equal(s.estimate(1_002), 50, 'a slower one replaces it');
  assert.ok(Math.abs(s.estimate(2_002) - 50 / Math.E) < 1e-9, 'one time constant later: 1/e of it');
  s.observe(0.1, false, 2_002);
  assert.ok(s.estimate(2_002) > 18, 'a fast failure does not make it look fast');
});
