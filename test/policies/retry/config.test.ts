// The retry config refuses 4xx conditions: a client error is the request's own fault.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfigError, loadConfigText } from '../../../proxy/config/load.ts';

test('a 4xx retry condition is refused at the value, 5xx and the named conditions are accepted', async () => {
  const r = await loadConfigText(`version: 1
upstreams: [ { name: u, endpoints: [http://127.0.0.1:1] } ]
routes:
  - { name: r, match: { path: / }, backends: [ { to: u } ], retry: { on: [connect, 503, 429] } }
  - { name: ok, match: { path: /ok }, backends: [ { to: u } ], retry: { on: [connect, reset, timeout, 500, 599] } }
`, '/tmp/c.yaml');
  assert.equal(r.ok, false);
  const errors = r.ok ? [] : r.errors;
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.path, 'routes[0].retry.on[2]');
  assert.equal(formatConfigError(errors[0]!),
    "/tmp/c.yaml:4:89: routes[0].retry.on[2]: expected `connect`, `reset`, `timeout` or an HTTP status from 500 to 599 (a 4xx is the client's own error and is never retried), got 429");
});
