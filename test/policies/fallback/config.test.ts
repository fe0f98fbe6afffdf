// Fallback config checks that need the route: `cache: stale` needs the route's response cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfigError, loadConfigText } from '../../../proxy/config/load.ts';

test('a `cache: stale` step on a route without a cache is refused at the step', async () => {
  const r = await loadConfigText(`version: 1
upstreams: [ { name: u, endpoints: [http://127.0.0.1:1] } ]
routes:
  - name: r
    match: { path: / }
    backends: [ { to: u } ]
    fallback:
      - cache: stale
      - static: { status: 503, body: busy }
`, '/tmp/c.yaml', {}, { gates: [] });
  assert.equal(r.ok, false);
  assert.deepEqual(r.ok ? [] : r.errors.map(formatConfigError), [
    "/tmp/c.yaml:8:16: routes[0].fallback[0].cache: `cache: stale` serves stale entries of the route's response cache, and this route has none: add `cache: { ttl: ... }` to the route",
  ]);
});

test('with a cache, the whole ladder normalises', async () => {
  const r = await loadConfigText(`version: 1
upstreams: [ { name: u, endpoints: [http://127.0.0.1:1] }, { name: small, endpoints: [http://127.0.0.1:2] } ]
routes:
  - name: r
    match: { path: / }
    backends: [ { to: u } ]
    cache: { ttl: 1m }
    fallback: [ { cache: stale }, { to: small }, { static: { status: 503, body: busy, headers: { Retry-After: "2" } } } ]
`, '/tmp/c.yaml', {}, { gates: [] });
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatConfigError).join('\n'));
  assert.deepEqual(r.config.routes[0]!.fallback, [
    { kind: 'stale-cache' },
    { kind: 'backend', to: 'small' },
    { kind: 'static', status: 503, headers: { 'retry-after': '2' }, body: 'busy', contentType: 'text/plain; charset=utf-8' },
  ]);
});
