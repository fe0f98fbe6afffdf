// The cache keys of the config: defaults (staleFor follows the fallback ladder, maxEntryBytes
// follows maxBytes), refusals, and the Redis password kept out of GET /config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfigError, loadConfigText } from '../../../proxy/config/load.ts';
import { redactConfig } from '../../../proxy/config/redact.ts';

const HEAD = `version: 1
upstreams: [ { name: u, endpoints: [http://127.0.0.1:1] } ]
`;

test('staleFor defaults to 5m with a `cache: stale` fallback step and to 0 without; maxEntryBytes to min(1MiB, maxBytes/8)', async () => {
  const r = await loadConfigText(`${HEAD}routes:
  - { name: a, match: { path: /a }, cache: { ttl: 10s }, fallback: [ { cache: stale } ], backends: [ { to: u } ] }
  - { name: b, match: { path: /b }, cache: { ttl: 10s }, backends: [ { to: u } ] }
  - { name: c, match: { path: /c }, cache: { ttl: 10s, staleFor: 1h, vary: [X-Tenant] }, backends: [ { to: u } ] }
  - { name: d, match: { path: /d }, embeddingCache: { ttl: 24h }, backends: [ { to: u } ] }
cache: { maxBytes: 4MiB }
`, '/tmp/c.yaml');
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatConfigError).join('\n'));
  const [a, b, c, d] = r.config.routes;
  assert.deepEqual(a!.cache, { ttl: 10_000, vary: [], staleFor: 300_000 });
  assert.deepEqual(b!.cache, { ttl: 10_000, vary: [], staleFor: 0 });
  assert.deepEqual(c!.cache, { ttl: 10_000, vary: ['x-tenant'], staleFor: 3_600_000 });
  assert.deepEqual(d!.embeddingCache, { ttl: 86_400_000 });
  assert.equal(r.config.cache.maxEntryBytes, 512 * 1024);
  const big = await loadConfigText(`${HEAD}routes: []\ncache: { maxBytes: 1GiB }\n`, '/tmp/c.yaml');
  assert.ok(big.ok);
  assert.equal(big.config.cache.maxEntryBytes, 1024 * 1024);
});

test('a per-entry limit above the whole store, or redis without its block, is refused where it is written', async () => {
  const r = await loadConfigText(`${HEAD}routes: []
cache: { maxBytes: 1MiB, maxEntryBytes: 2MiB, store: redis }
`, '/tmp/c.yaml');
  assert.equal(r.ok, false);
  const text = r.ok ? [] : r.errors.map(formatConfigError);
  assert.ok(text.some((t) => /cache\.maxEntryBytes: maxEntryBytes \(2MiB\) is larger than maxBytes/.test(t)), text.join('\n'));
  assert.ok(text.some((t) => /cache\.store: `store: redis` needs a `redis: \{ url \}` block/.test(t)), text.join('\n'));
});

test('the Redis password never reaches GET /config', async () => {
  const r = await loadConfigText(`${HEAD}routes: []
cache: { store: redis, redis: { url: "redis://:hunter2@cache:6379/1", prefix: "p:" } }
`, '/tmp/c.yaml');
  assert.ok(r.ok);
  const shown = JSON.stringify(redactConfig(r.config));
  assert.ok(!shown.includes('hunter2'));
  assert.match(shown, /redis:\/\/:\*\*\*@cache:6379\/1/);
});
