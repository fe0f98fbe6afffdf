// Per-route load shedding (route `maxConcurrent`) in front of a real slow upstream: over the
// limit, requests are refused at once with 503 overloaded + Retry-After and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, HEAD, startProxy } from '../../helpers/inprocess.ts';
import { startUpstream } from '../../helpers/upstreams.ts';
import { SHED } from '../../../policies/shed/events.ts';
import type { ShedEvent } from '../../../policies/shed/events.ts';

test('a route over its maxConcurrent sheds at once; the admitted ones are served; other routes are untouched', async (t) => {
  const slow = await startUpstream((_req, res) => setTimeout(() => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); }, 300));
  t.after(() => slow.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: slow, endpoints: [${slow.origin}] } ]
routes:
  - { name: limited, match: { path: /limited }, maxConcurrent: 2, backends: [ { to: slow } ] }
  - { name: open, match: { path: /open }, backends: [ { to: slow } ] }
`);
  const shed = p.capture<ShedEvent>(SHED);
  const [limited, open] = await Promise.all([
    Promise.all(Array.from({ length: 6 }, () => call(`${p.data}/limited`, { method: 'POST', body: 'x'.repeat(1000) }))),
    Promise.all(Array.from({ length: 4 }, () => call(`${p.data}/open`))),
  ]);
  assert.equal(limited.filter((r) => r.status === 200).length, 2);
  const refused = limited.filter((r) => r.status === 503);
  assert.equal(refused.length, 4);
  for (const r of refused) {
    assert.equal(JSON.parse(r.text).error.code, 'overloaded');
    assert.equal(r.headers.get('retry-after'), '1');
    // Refused at once, not after waiting for a slot (which would take the upstream's 300 ms).
    assert.ok(r.ms < 250, `shed in ${r.ms} ms`);
  }
  assert.ok(open.every((r) => r.status === 200));
  assert.equal(shed.length, 4);
  assert.deepEqual(shed[0], { reason: 'route_concurrency', route: 'limited', backend: null });
  assert.equal(await p.metric('outrider_shed_total', { reason: 'route_concurrency' }), 4);
  assert.deepEqual((await p.route('limited'))['concurrency'], { inFlight: 0, maxConcurrent: 2 });
  // The slots were given back: the route serves again.
  assert.equal((await call(`${p.data}/limited`)).status, 200);
});
