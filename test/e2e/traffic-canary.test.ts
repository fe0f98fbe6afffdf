// Canary analysis through the real `outrider run` process against real loopback backends:
// rollback on an injected error rate and on injected latency, promotion through steps, the
// admin reset, and reloads (an unchanged route keeps its analysis, a changed one starts over).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { startOutrider } from '../helpers/outrider.ts';
import type { Running } from '../helpers/outrider.ts';
import { startUpstream } from '../helpers/upstreams.ts';
import type { Behaviour, TestUpstream } from '../helpers/upstreams.ts';

const named = (name: string, opts: { delayMs?: number; failEvery?: number } = {}): Behaviour => {
  let n = 0;
  return (_req, res) => {
    const fail = opts.failEvery !== undefined && n++ % opts.failEvery === 0;
    const text = JSON.stringify({ backend: name });
    const send = () => { res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }); res.end(text); };
    if (opts.delayMs !== undefined) setTimeout(send, opts.delayMs); else send();
  };
};

const agent = new Agent({ connections: 16, keepAliveTimeout: 10_000 });
const ups: TestUpstream[] = [];
let o: Running;
let yaml: (errorsTimeout: string) => string;

before(async () => {
  const [stable, flaky, slow, next] = await Promise.all([
    startUpstream(named('stable')),
    startUpstream(named('flaky', { failEvery: 4 })),
    startUpstream(named('slow', { delayMs: 150 })),
    startUpstream(named('next')),
  ]);
  ups.push(stable!, flaky!, slow!, next!);
  yaml = (errorsTimeout) => `
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams:
  - { name: stable, endpoints: [${stable!.origin}] }
  - { name: flaky, endpoints: [${flaky!.origin}] }
  - { name: slow, endpoints: [${slow!.origin}] }
  - { name: next, endpoints: [${next!.origin}] }
routes:
  - name: errors
    match: { path: /errors }
    timeout: ${errorsTimeout}
    backends: [ { to: stable, weight: 50 }, { to: flaky, weight: 50 } ]
    canary: { backend: flaky, window: 3s, minRequests: 20, maxErrorRateDelta: 1, action: rollback }
  - name: latency
    match: { path: /latency }
    backends: [ { to: stable, weight: 50 }, { to: slow, weight: 50 } ]
    canary: { backend: slow, window: 3s, minRequests: 20, maxP99Ratio: 1.5, action: rollback }
  - name: promote
    match: { path: /promote }
    backends: [ { to: stable, weight: 1 }, { to: next, weight: 0 } ]
    # Stepping is under test here, not latency: a p99 of a few requests is their slowest one.
    canary: { backend: next, window: 3s, minRequests: 10, maxP99Ratio: 1000, action: promote, steps: [10, 50, 100], stepEvery: 300ms }
  - { name: plain, match: { path: /plain }, backends: [ { to: stable } ] }
`;
  o = await startOutrider(yaml('5s'));
});

after(async () => {
  await o?.stop();
  await Promise.all(ups.map((u) => u.close()));
  await agent.close();
});

interface Hit { status: number; backend: string; at: number }

async function hit(p: string): Promise<Hit> {
  const res = await request(`${o.data}${p}`, { dispatcher: agent });
  const body = await res.body.json() as { backend?: string };
  return { status: res.statusCode, backend: body.backend ?? 'none', at: Date.now() };
}

async function send(n: number, p: string, concurrency = 8): Promise<Hit[]> {
  const out: Hit[] = [];
  for (let i = 0; i < n; i += concurrency) out.push(...await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, () => hit(p))));
  return out;
}

interface CanaryStatus { state: string; reason: string | null; sinceMs: number; weightPercent: number; canary: { requests: number } }

async function canary(route: string): Promise<CanaryStatus> {
  const body = await (await request(`${o.admin}/routes`)).body.json() as { routes: { name: string; canary: CanaryStatus }[] };
  return body.routes.find((r) => r.name === route)!.canary;
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await request(`${o.admin}/metrics`)).body.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** When the canary's `min`-th answer reached the client. */
function crossed(hits: readonly Hit[], backend: string, min: number): number {
  return hits.filter((h) => h.backend === backend)[min - 1]!.at;
}

/**
 * The canary's status once `done` holds, or after `ms`: a verdict is computed at most 100 ms
 * after the attempts it judges, also when no more come (the burst may end before that).
 */
async function canaryWhen(route: string, done: (s: CanaryStatus) => boolean, ms = 4_000): Promise<CanaryStatus> {
  const until = Date.now() + ms;
  for (;;) {
    const s = await canary(route);
    if (done(s) || Date.now() > until) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('an injected error rate rolls the canary back to 0 within window + 1 s of minRequests', async () => {
  const hits = await send(160, '/errors');
  const s = await canaryWhen('errors', (c) => c.state === 'rolled-back');
  assert.equal(s.state, 'rolled-back');
  assert.equal(s.weightPercent, 0);
  assert.match(String(s.reason), /^error rate \d+(\.\d+)?% is \d+(\.\d+)? points above the other backends' 0% \(limit 1\)/);
  const rolledBackAt = Date.now() - s.sinceMs;
  assert.ok(rolledBackAt - crossed(hits, 'flaky', 20) < 3_000 + 1_000, `rolled back ${rolledBackAt - crossed(hits, 'flaky', 20)} ms after minRequests`);
  const after = await send(80, '/errors');
  assert.ok(after.every((h) => h.backend === 'stable' && h.status === 200), 'no traffic to a rolled-back canary');
  assert.equal(await metric('outrider_canary_rollbacks_total', 'route="errors"'), 1);
  assert.equal(await metric('outrider_canary_weight_percent', 'route="errors",backend="flaky"'), 0);
  const line = await o.waitForLog((l) => l['msg'] === 'canary rolled back' && l['route'] === 'errors', 2_000);
  assert.match(String(line['reason']), /error rate/);
});

test('injected latency rolls the canary back on its p99', async () => {
  const hits = await send(160, '/latency');
  const s = await canaryWhen('latency', (c) => c.state === 'rolled-back');
  assert.equal(s.state, 'rolled-back');
  assert.match(String(s.reason), /^p99 latency \d+(\.\d+)? ms is \d+(\.\d+)?× the other backends'/);
  assert.ok(Date.now() - s.sinceMs - crossed(hits, 'slow', 20) < 4_000);
  const after = await send(40, '/latency');
  assert.ok(after.every((h) => h.backend === 'stable'));
});

test('promote steps the canary up while healthy until it takes all traffic', async () => {
  const first = await send(40, '/promote', 4);
  assert.ok(first.some((h) => h.backend === 'next'), 'a canary configured at 0 starts at the first step');
  const deadline = Date.now() + 15_000;
  let s = await canary('promote');
  while (s.state !== 'promoted' && Date.now() < deadline) {
    await send(40, '/promote', 4);
    s = await canary('promote');
  }
  assert.equal(s.state, 'promoted');
  assert.equal(s.weightPercent, 100);
  const all = await send(40, '/promote');
  assert.ok(all.every((h) => h.backend === 'next'));
  // Log lines reach stdout in batches: wait for the last one.
  await o.waitForLog((l) => l['route'] === 'promote' && l['msg'] === 'canary fully promoted', 2_000);
  const steps = o.logs.filter((l) => l['route'] === 'promote' && String(l['msg']).startsWith('canary ')).map((l) => l['weightPercent']);
  assert.deepEqual(steps, [50, 100]);
});

test('admin reset after a rollback: configured weights and a fresh analysis', async () => {
  const bad = await request(`${o.admin}/canary/reset?route=nope`, { method: 'POST' });
  assert.equal(bad.statusCode, 404);
  await bad.body.dump();
  const none = await request(`${o.admin}/canary/reset?route=plain`, { method: 'POST' });
  assert.equal(none.statusCode, 409);
  await none.body.dump();
  const unnamed = await request(`${o.admin}/canary/reset`, { method: 'POST' });
  assert.equal(unnamed.statusCode, 400);
  await unnamed.body.dump();

  const res = await request(`${o.admin}/canary/reset?route=latency`, { method: 'POST' });
  assert.equal(res.statusCode, 200);
  const body = await res.body.json() as { canary: CanaryStatus };
  assert.equal(body.canary.state, 'observing');
  assert.equal(body.canary.weightPercent, 50);
  const again = await send(40, '/latency');
  assert.ok(again.some((h) => h.backend === 'slow'), 'the canary takes traffic again');
});

test('a reload keeps the analysis of an unchanged route and restarts that of a changed one', async () => {
  assert.equal((await canary('errors')).state, 'rolled-back');
  await writeFile(o.configFile, yaml('5s'));
  let r = await request(`${o.admin}/config/reload`, { method: 'POST' });
  assert.equal(r.statusCode, 200);
  await r.body.dump();
  assert.equal((await canary('errors')).state, 'rolled-back', 'unchanged route: still rolled back');
  assert.equal((await canary('promote')).state, 'promoted');
  await writeFile(o.configFile, yaml('6s'));
  r = await request(`${o.admin}/config/reload`, { method: 'POST' });
  assert.equal(r.statusCode, 200);
  await r.body.dump();
  const s = await canary('errors');
  assert.equal(s.state, 'observing', 'changed route: a fresh analysis');
  assert.equal(s.weightPercent, 50);
  assert.equal((await canary('promote')).state, 'promoted', 'the other routes are untouched');
});
