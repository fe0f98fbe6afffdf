import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfigText } from '../../../proxy/config/load.ts';
import { redactConfig, redactUrl } from '../../../proxy/config/redact.ts';
import { workspace } from './workspace.ts';

test('GET /config view: secrets are masked, everything else is kept, the config is untouched', async (t) => {
  const dir = await workspace(t, {});
  const result = await loadConfigText(`version: 1
runtimes:
  - name: p
    kind: process
    command: [serve, --port, "\${PORT}", --api-key, k-123, "--token=t-456", --model, resnet]
    env: { MODEL: resnet, HF_TOKEN: hf_x, DB_PASSWORD: pw, Passwd: p, AWS_SECRET_ACCESS_KEY: s, OAUTH: o, CREDENTIALS_FILE: /c, SESSION_COOKIE: c, THREADS: "4" }
    warmup: { requests: [ { path: /w, headers: { Authorization: Bearer abc, X-Api-Key: k, Cookie: a=b, Content-Type: application/json } } ] }
upstreams: [ { name: u, endpoints: [http://127.0.0.1:1] } ]
routes:
  - name: r
    match: { path: /, headers: { authorization: Bearer xyz, x-tenant: acme, cookie: true } }
    backends: [ { to: p }, { to: u } ]
    fallback: [ { static: { status: 503, body: busy, headers: { Set-Cookie: s=1, Retry-After: "1" } } } ]
cache: { store: redis, redis: { url: "redis://default:hunter2@cache.internal:6379/2", prefix: "o:" } }
`, join(dir, 'c.yaml'), {}, { gates: [] });
  assert.ok(result.ok);
  const c = result.config;
  const view = JSON.parse(JSON.stringify(redactConfig(c)));

  const p = view.runtimes[0];
  assert.deepEqual(p.command, ['serve', '--port', '${PORT}', '--api-key', '***', '--token=***', '--model', 'resnet']);
  assert.deepEqual(p.env, {
    MODEL: 'resnet', HF_TOKEN: '***', DB_PASSWORD: '***', Passwd: '***', AWS_SECRET_ACCESS_KEY: '***', OAUTH: '***',
    CREDENTIALS_FILE: '***', SESSION_COOKIE: '***', THREADS: '4',
  });
  assert.deepEqual(p.warmup.requests[0].headers, { authorization: '***', 'x-api-key': '***', cookie: '***', 'content-type': 'application/json' });
  assert.deepEqual(view.routes[0].match.headers, [
    { name: 'authorization', value: '***' }, { name: 'x-tenant', value: 'acme' }, { name: 'cookie', value: null },
  ]);
  assert.deepEqual(view.routes[0].fallback[0].headers, { 'set-cookie': '***', 'retry-after': '1' });
  assert.deepEqual(view.cache.redis, { url: 'redis://default:***@cache.internal:6379/2', prefix: 'o:' });

  // Everything that is not a secret comes through as loaded.
  assert.deepEqual(view.limits, c.limits);
  assert.deepEqual(view.upstreams, c.upstreams);
  assert.equal(view.file, c.file);

  // The running config keeps the real values.
  const real = c.runtimes[0]!;
  assert.ok(real.kind === 'process');
  assert.equal(real.env.HF_TOKEN, 'hf_x');
  assert.equal(c.cache.redis?.url, 'redis://default:hunter2@cache.internal:6379/2');
  assert.equal(c.routes[0]!.match.headers[0]!.value, 'Bearer xyz');
});

test('redis URLs: only the password goes', () => {
  assert.equal(redactUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  assert.equal(redactUrl('rediss://:s3cret@h:6380/0'), 'rediss://:***@h:6380/0');
  assert.equal(redactUrl('redis://user:p%40ss@h'), 'redis://user:***@h');
  assert.equal(redactUrl('redis://onlysecret@h:6379'), 'redis://***@h:6379', 'some clients read a lone user part as the password');
  assert.equal(redactUrl('not a url'), '***');
});
