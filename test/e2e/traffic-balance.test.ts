// Latency-aware endpoint picking through the real `outrider run` process: four real loopback
// endpoints behind one upstream, one of them slowed; p2c-ewma against round-robin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { startOutrider } from '../helpers/outrider.ts';
import type { Running } from '../helpers/outrider.ts';
import { startUpstream } from '../helpers/upstreams.ts';
import type { TestUpstream } from '../helpers/upstreams.ts';

const agent = new Agent({ connections: 16, keepAliveTimeout: 10_000 });
const ups: TestUpstream[] = [];
// Well above the scheduling jitter of a busy 2-core test machine, which peak-EWMA also sees.
const SLOW_MS = 150;
let o: Running;

before(async () => {
  for (let i = 0; i < 4; i++) {
    ups.push(await startUpstream((_req, res) => {
      const send = () => { res.writeHead(200, { 'content-length': String(String(i).length), 'x-endpoint': String(i) }); res.end(String(i)); };
      if (i === 0) setTimeout(send, SLOW_MS); else send();
    }));
  }
  const list = ups.map((u) => u.origin).join(', ');
  o = await startOutrider(`
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams:
  - { name: fleet, endpoints: [${list}] }
  - { name: fleet-rr, endpoints: [${list}] }
routes:
  - { name: ewma, match: { path: /ewma }, backends: [ { to: fleet } ] }
  - { name: rr, match: { path: /rr }, balance: round-robin, backends: [ { to: fleet-rr } ] }
`);
});

after(async () => {
  await o?.stop();
  await Promise.all(ups.map((u) => u.close()));
  await agent.close();
});

async function send(n: number, p: string): Promise<{ endpoint: string; ms: number }[]> {
  const out: { endpoint: string; ms: number }[] = [];
  for (let i = 0; i < n; i += 4) {
    out.push(...await Promise.all(Array.from({ length: Math.min(4, n - i) }, async () => {
      const t0 = performance.now();
      const res = await request(`${o.data}${p}`, { dispatcher: agent });
      await res.body.dump();
      return { endpoint: String(res.headers['x-endpoint']), ms: performance.now() - t0 };
    })));
  }
  return out;
}

test('p2c-ewma leaves the slowed endpoint alone; round-robin keeps a quarter on it', async () => {
  await send(40, '/ewma');
  const ewma = await send(300, '/ewma');
  const rr = await send(60, '/rr');
  const slowShare = (xs: { endpoint: string }[]) => xs.filter((x) => x.endpoint === '0').length / xs.length;
  assert.ok(slowShare(ewma) < 0.06, `p2c-ewma sent ${slowShare(ewma) * 100}% to the slowed endpoint`);
  assert.ok(Math.abs(slowShare(rr) - 0.25) < 0.04, `round-robin sent ${slowShare(rr) * 100}%`);

  const routes = await (await request(`${o.admin}/routes`)).body.json() as { routes: { name: string; balance: string; backends: { endpoints: { origin: string; latencyEwmaMs: number | null }[] }[] }[] };
  const r = routes.routes.find((x) => x.name === 'ewma')!;
  assert.equal(r.balance, 'p2c-ewma');
  const est = r.backends[0]!.endpoints.map((e) => e.latencyEwmaMs!);
  assert.ok(est.every((e) => typeof e === 'number'), 'every endpoint shows its estimate');
  assert.ok(est[0]! > Math.max(...est.slice(1)), `estimates ${est.join(', ')}`);
});
