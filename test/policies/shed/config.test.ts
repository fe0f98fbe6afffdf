// The route key `maxConcurrent` (load shedding): optional, a positive integer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfigError, loadConfigText } from '../../../proxy/config/load.ts';

test('maxConcurrent is read per route, absent means no limit of its own, 0 is refused', async () => {
  const yaml = (v: string) => `version: 1
upstreams: [ { name: u, endpoints: [http://127.0.0.1:1] } ]
routes:
  - { name: a, match: { path: /a }, backends: [ { to: u } ]${v} }
  - { name: b, match: { path: /b }, backends: [ { to: u } ] }
`;
  const ok = await loadConfigText(yaml(', maxConcurrent: 64'), '/tmp/c.yaml');
  assert.ok(ok.ok);
  assert.deepEqual(ok.config.routes.map((r) => r.maxConcurrent), [64, null]);
  const bad = await loadConfigText(yaml(', maxConcurrent: 0'), '/tmp/c.yaml');
  assert.equal(bad.ok, false);
  assert.deepEqual(bad.ok ? [] : bad.errors.map((e) => e.path), ['routes[0].maxConcurrent']);
  assert.match(bad.ok ? '' : formatConfigError(bad.errors[0]!), /maxConcurrent/);
});
