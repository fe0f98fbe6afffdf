// Outlier ejection against real failing loopback endpoints: ejection after consecutive
// failures, return after ejectFor, longer ejections for repeat offenders, never more than half
// of a backend's endpoints out, and 503s (deliberate "busy") not counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, HEAD, startProxy } from '../../helpers/inprocess.ts';
import { echo, startUpstream } from '../../helpers/upstreams.ts';
import type { TestUpstream } from '../../helpers/upstreams.ts';
import { OUTLIER_EJECTED, OUTLIER_RETURNED } from '../../../policies/outlier/events.ts';
import type { OutlierEjectedEvent, OutlierReturnedEvent } from '../../../policies/outlier/events.ts';
import { outlierConfigFor, RUNTIME_OUTLIER } from '../../../policies/outlier/config.ts';
import type { Config } from '../../../proxy/config/types.ts';

const failing = (code: number) => startUpstream((_req, res) => { res.writeHead(code, { 'content-length': '0' }); res.end(); });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function closeAll(ups: readonly TestUpstream[]): Promise<void> {
  await Promise.all(ups.map((u) => u.close()));
}

test('an endpoint failing in a row is ejected, returns after ejectFor, and is ejected longer the next time', async (t) => {
  const bad = await failing(500);
  const good = await startUpstream(echo);
  t.after(() => closeAll([bad, good]));
  const p = await startProxy(t, `${HEAD}
upstreams:
  - { name: u, endpoints: [${bad.origin}, ${good.origin}], outlier: { consecutiveFailures: 3, ejectFor: 1s } }
routes:
  - { name: r, match: { path: / }, balance: round-robin, backends: [ { to: u } ] }
`);
  const ejected = p.capture<OutlierEjectedEvent>(OUTLIER_EJECTED);
  const returned = p.capture<OutlierReturnedEvent>(OUTLIER_RETURNED);
  for (let i = 0; i < 12; i++) await call(`${p.data}/`);
  assert.equal(bad.seen.length, 3, 'three failures in a row, then out of rotation');
  assert.deepEqual(ejected, [{ backend: 'u', endpoint: `u/${bad.origin}`, ejectForMs: 1_000, times: 1 }]);
  assert.equal(await p.metric('outrider_outlier_ejections_total', { backend: 'u' }), 1);
  assert.equal(await p.metric('outrider_outlier_ejected_endpoints', { backend: 'u' }), 1);
  const status = (await p.route('r'))['outlier'] as Record<string, { ejected: { endpoint: string }[] }>;
  assert.deepEqual(status['u']?.ejected.map((e) => e.endpoint), [`u/${bad.origin}`]);

  await sleep(1_050);
  assert.deepEqual(returned, [{ backend: 'u', endpoint: `u/${bad.origin}` }]);
  assert.equal(await p.metric('outrider_outlier_ejected_endpoints', { backend: 'u' }), 0);
  for (let i = 0; i < 60 && ejected.length < 2; i++) await call(`${p.data}/`);
  assert.equal(bad.seen.length, 6);
  // Back soon after its first ejection: a repeat offender, out twice as long.
  assert.deepEqual(ejected[1], { backend: 'u', endpoint: `u/${bad.origin}`, ejectForMs: 2_000, times: 2 });
});

test('never more than half of the endpoints are ejected, and a 503 is not a failure', async (t) => {
  const four = await Promise.all([failing(502), failing(502), failing(502), failing(502)]);
  const two = await Promise.all([failing(500), failing(500)]);
  const one = await failing(500);
  const busy = await Promise.all([failing(503), startUpstream(echo)]);
  t.after(() => closeAll([...four, ...two, one, ...busy]));
  const list = (ups: readonly TestUpstream[]) => `[${ups.map((u) => u.origin).join(', ')}]`;
  const p = await startProxy(t, `${HEAD}
upstreams:
  - { name: four, endpoints: ${list(four)}, outlier: { consecutiveFailures: 2, ejectFor: 30s } }
  - { name: two, endpoints: ${list(two)}, outlier: { consecutiveFailures: 2, ejectFor: 30s } }
  - { name: one, endpoints: [${one.origin}], outlier: { consecutiveFailures: 2, ejectFor: 30s } }
  - { name: busy, endpoints: ${list(busy)}, outlier: { consecutiveFailures: 2, ejectFor: 30s } }
routes:
  - { name: four, match: { path: /four }, balance: round-robin, backends: [ { to: four } ] }
  - { name: two, match: { path: /two }, balance: round-robin, backends: [ { to: two } ] }
  - { name: one, match: { path: /one }, balance: round-robin, backends: [ { to: one } ] }
  - { name: busy, match: { path: /busy }, balance: round-robin, backends: [ { to: busy } ] }
`);
  for (let i = 0; i < 40; i++) {
    await Promise.all([call(`${p.data}/four`), call(`${p.data}/two`), call(`${p.data}/one`), call(`${p.data}/busy`)]);
  }
  assert.equal(await p.metric('outrider_outlier_ejected_endpoints', { backend: 'four' }), 2);
  assert.equal(await p.metric('outrider_outlier_ejected_endpoints', { backend: 'two' }), 1);
  assert.equal(await p.metric('outrider_outlier_ejected_endpoints', { backend: 'one' }), 0);
  assert.equal(await p.metric('outrider_outlier_ejected_endpoints', { backend: 'busy' }), 0);
  assert.equal(one.seen.length, 40, 'a lone endpoint keeps its traffic');
  assert.ok(busy[0]!.seen.length >= 2, 'the busy endpoint was tried');
});

test('runtime replicas get the built-in outlier config; upstreams only their own', () => {
  const config = {
    upstreams: [{ name: 'with', endpoints: [], outlier: { consecutiveFailures: 7, ejectFor: 1_000 } }, { name: 'without', endpoints: [], outlier: null }],
    runtimes: [{ name: 'mlp' }],
  } as unknown as Config;
  assert.deepEqual(outlierConfigFor(config, 'with'), { consecutiveFailures: 7, ejectFor: 1_000 });
  assert.equal(outlierConfigFor(config, 'without'), null);
  assert.equal(outlierConfigFor(config, 'mlp'), RUNTIME_OUTLIER);
});
