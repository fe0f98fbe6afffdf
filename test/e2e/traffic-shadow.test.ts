// Shadow mirroring through the real `outrider run` process: the copy's headers and body, its
// isolation from the primary (a hung or failing shadow changes nothing for the client), and
// output comparison between the bundled `mlp` and `mlp-next` ONNX models on real runtimes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Agent, request } from 'undici';
import { ROOT, startOutrider, waitReady } from '../helpers/outrider.ts';
import type { Running } from '../helpers/outrider.ts';
import { startUpstream } from '../helpers/upstreams.ts';
import type { Behaviour, TestUpstream } from '../helpers/upstreams.ts';

const fixed: Behaviour = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': '11' });
  res.end('{"ok":true}');
};

const agent = new Agent({ connections: 16, keepAliveTimeout: 10_000 });
let primary: TestUpstream;
let recorder: TestUpstream;
let hung: TestUpstream;
let failing: TestUpstream;
let o: Running;

before(async () => {
  primary = await startUpstream(fixed);
  recorder = await startUpstream(fixed);
  hung = await startUpstream(() => { /* never answers */ });
  failing = await startUpstream((_req, res) => { res.writeHead(500, { 'content-length': '4' }); res.end('boom'); });
  const models = path.join(ROOT, 'examples', 'models');
  o = await startOutrider(`
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
runtimes:
  - { name: mlp, kind: onnx, model: ${path.join(models, 'mlp.onnx')}, replicas: 1, warmup: { iterations: 2 } }
  - { name: mlp-next, kind: onnx, model: ${path.join(models, 'mlp-next.onnx')}, replicas: 1, warmup: { iterations: 2 } }
upstreams:
  - { name: primary, endpoints: [${primary.origin}] }
  - { name: recorder, endpoints: [${recorder.origin}] }
  - { name: hung, endpoints: [${hung.origin}] }
  - { name: failing, endpoints: [${failing.origin}] }
routes:
  - { name: plain, match: { path: /plain }, backends: [ { to: primary } ] }
  - name: mirror
    match: { path: /mirror }
    backends: [ { to: primary } ]
    shadow: { to: recorder, percent: 100, compare: exact }
  - name: quarter
    match: { path: /quarter }
    backends: [ { to: primary } ]
    shadow: { to: recorder, percent: 25, compare: exact }
  - name: hung
    match: { path: /hung }
    backends: [ { to: primary } ]
    shadow: { to: hung, percent: 100, timeout: 300ms, maxInFlight: 8 }
  - name: hung-long
    match: { path: /hung-long }
    timeout: 60s
    backends: [ { to: primary } ]
    shadow: { to: hung, percent: 100 }
  - name: failing
    match: { path: /failing }
    backends: [ { to: primary } ]
    breaker: { failureRate: 50, minRequests: 5, window: 10s, openFor: 30s }
    shadow: { to: failing, percent: 100 }
  - name: cls
    match: { path: /v2/models/mlp/, prefix: true }
    backends: [ { to: mlp } ]
    shadow: { to: mlp-next, percent: 100, compare: argmax, maxInFlight: 400 }
  - name: cls-diff
    match: { path: /v2/models/mlp-diff/, prefix: true }
    backends: [ { to: mlp } ]
    shadow: { to: mlp-next, percent: 100, compare: max-abs-diff, maxInFlight: 400 }
`);
  await waitReady(o.admin);
});

after(async () => {
  await o?.stop();
  await Promise.all([primary, recorder, hung, failing].map((u) => u?.close()));
  await agent.close();
});

async function post(p: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; ms: number; id: string; text: string }> {
  const t0 = performance.now();
  const res = await request(`${o.data}${p}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, dispatcher: agent });
  const text = await res.body.text();
  return { status: res.statusCode, ms: performance.now() - t0, id: String(res.headers['x-request-id']), text };
}

async function runs(n: number, p: string, concurrency = 4): Promise<{ status: number; ms: number }[]> {
  const out: { status: number; ms: number }[] = [];
  for (let i = 0; i < n; i += concurrency) out.push(...await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, () => post(p, '{"x":1}'))));
  return out;
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await request(`${o.admin}/metrics`)).body.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function until(pred: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('the copy carries the same request id and body plus the shadow marker; a client cannot forge the marker', async () => {
  const before = recorder.seen.length;
  const r = await post('/mirror', '{"q":42}', { 'x-outrider-shadow': '1' });
  assert.equal(r.status, 200);
  await until(async () => recorder.seen.length > before);
  const copy = recorder.seen.at(-1)!;
  assert.equal(copy.headers['x-outrider-shadow'], '1');
  assert.equal(copy.headers['x-request-id'], r.id);
  assert.equal(copy.body.toString(), '{"q":42}');
  const orig = primary.seen.at(-1)!;
  assert.equal(orig.headers['x-request-id'], r.id);
  assert.equal(orig.headers['x-outrider-shadow'], undefined, 'the primary never sees the marker');
  await until(async () => await metric('outrider_shadow_requests_total', 'route="mirror",result="match"') === 1);
});

test('percent: about that share of the requests is copied', async () => {
  const before = recorder.seen.length;
  await runs(400, '/quarter', 8);
  await new Promise((r) => setTimeout(r, 200));
  const copied = recorder.seen.length - before;
  // 25% of 400, within 5 standard deviations (about 43).
  assert.ok(copied > 57 && copied < 143, `${copied} of 400 copied`);
});

test('a hung shadow: primary answers and latency unchanged; copies time out or are dropped, and counted', async () => {
  await runs(20, '/plain');
  await runs(20, '/hung');
  // Interleaved batches of 4, so that another test file's burst of CPU on the shared cores lands
  // on both routes alike. Run one after the other, a burst during the second run failed this
  // test in a full-suite run here (median 12.4 ms vs 3.6 ms).
  const plain: { status: number; ms: number }[] = [];
  const shadowed: { status: number; ms: number }[] = [];
  for (let i = 0; i < 15; i++) {
    for (const p of i % 2 === 0 ? ['/plain', '/hung'] : ['/hung', '/plain']) (p === '/plain' ? plain : shadowed).push(...await runs(4, p));
  }
  assert.ok(shadowed.every((r) => r.status === 200));
  const mp = median(plain.map((r) => r.ms));
  const mh = median(shadowed.map((r) => r.ms));
  assert.ok(mh < mp * 2 + 5, `median ${mh} ms with a hung shadow vs ${mp} ms without`);
  assert.ok(await metric('outrider_shadow_requests_total', 'route="hung",result="dropped"') > 0, 'over maxInFlight copies are dropped');
  await until(async () => await metric('outrider_shadow_requests_total', 'route="hung",result="error"') > 0);
  const routes = await (await request(`${o.admin}/routes`)).body.json() as { routes: { name: string; shadow: { inFlight: number; maxInFlight: number } }[] };
  const s = routes.routes.find((r) => r.name === 'hung')!.shadow;
  assert.ok(s.inFlight <= s.maxInFlight);
});

test('a failing shadow: the primary still answers 200 and its breaker stays closed', async () => {
  const got = await runs(40, '/failing');
  assert.ok(got.every((r) => r.status === 200));
  await until(async () => await metric('outrider_shadow_requests_total', 'route="failing",result="error"') >= 30);
  const routes = await (await request(`${o.admin}/routes`)).body.json() as { routes: { name: string; breaker: Record<string, { state: string }> }[] };
  const breakers = routes.routes.find((r) => r.name === 'failing')!.breaker;
  assert.equal(breakers['primary']!.state, 'closed');
});

/** Deterministic N(0,1) rows (mulberry32 + Box-Muller), the distribution mlp-next was tuned on. */
function normalRows(seed: number, rows: number, width: number): number[][] {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return Array.from({ length: rows }, () => Array.from({ length: width }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())));
}

test('mlp vs mlp-next: argmax agreement and max-abs-diff are measured on real models', async () => {
  const inputs = normalRows(7, 200, 64);
  for (let i = 0; i < inputs.length; i += 8) {
    await Promise.all(inputs.slice(i, i + 8).map(async (row) => {
      const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: row }] });
      const a = await post('/v2/models/mlp/infer', body);
      assert.equal(a.status, 200, a.text);
      const b = await post('/v2/models/mlp-diff/infer', body);
      assert.equal(b.status, 200, b.text);
    }));
  }
  // Every copy ends in exactly one result (the route's /routes counts); wait for all 200, then
  // require that each was compared.
  const settled = async (route: string): Promise<Record<string, number>> => {
    let got: Record<string, number> = {};
    await until(async () => {
      const routes = await (await request(`${o.admin}/routes`)).body.json() as { routes: { name: string; shadow: { results: Record<string, number> } }[] };
      got = routes.routes.find((r) => r.name === route)!.shadow.results;
      return Object.values(got).reduce((a, b) => a + b, 0) >= 200;
    }, 20_000);
    return got;
  };
  const got = await settled('cls');
  assert.equal(got['match']! + got['mismatch']!, 200, `results: ${JSON.stringify(got)}`);
  const match = got['match']!;
  const mismatch = got['mismatch']!;
  const agreement = match / 200;
  // The models were generated to agree on ~94% of N(0,1) inputs (scripts/gen_models.py).
  assert.ok(agreement > 0.85 && agreement < 0.995, `argmax agreement ${agreement}`);
  assert.equal(await metric('outrider_shadow_divergence_count', 'route="cls"'), 200);
  assert.equal(await metric('outrider_shadow_divergence_sum', 'route="cls"'), mismatch, 'one row per request: divergence 1 per disagreement');
  const routes = await (await request(`${o.admin}/routes`)).body.json() as { routes: { name: string; shadow: { agreementRate: number } }[] };
  assert.equal(routes.routes.find((r) => r.name === 'cls')!.shadow.agreementRate, agreement);
  // The last layer differs: every pair differs by more than float noise.
  const diff = await settled('cls-diff');
  assert.equal(diff['mismatch'], 200, `results: ${JSON.stringify(diff)}`);
  const sum = await metric('outrider_shadow_divergence_sum', 'route="cls-diff"');
  assert.ok(sum / 200 > 1e-3, `mean max-abs-diff ${sum / 200}`);
  const log = await o.waitForLog((l) => l['msg'] === 'shadow answer differs from the primary' && l['route'] === 'cls', 2_000);
  assert.ok(typeof log['requestId'] === 'string', 'mismatches are logged with the request id');
});

test('a shutdown does not wait for shadow copies nobody waits for', async () => {
  // The copy may hang for the primary's whole 60 s budget; SIGTERM must not.
  const r = await post('/hung-long', '{}');
  assert.equal(r.status, 200);
  await until(async () => hung.seen.length > 0 && (await (await request(`${o.admin}/routes`)).body.json() as { routes: { name: string; shadow: { inFlight: number } }[] }).routes.find((x) => x.name === 'hung-long')!.shadow.inFlight === 1);
  const t0 = performance.now();
  const code = await o.stop();
  assert.equal(code, 0);
  assert.ok(performance.now() - t0 < 5_000, `stopped after ${performance.now() - t0} ms`);
});
