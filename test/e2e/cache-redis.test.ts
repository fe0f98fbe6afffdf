// `cache.store: redis` with two real `outrider run` processes and a real redis-server: what one
// stores the other serves, the Redis password never shows in /config or the logs, and a Redis
// killed mid-test costs cache hits, never requests; it is used again once it is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOutrider } from '../helpers/outrider.ts';
import { startRedis } from '../helpers/redis.ts';
import { startUpstream } from '../helpers/upstreams.ts';

const PASSWORD = 'pw-s3cret-71';

test('two replicas share the Redis tier, survive its death and use it again when it is back', async (t) => {
  const redis = await startRedis(t, { password: PASSWORD });
  let calls = 0;
  const up = await startUpstream((_req, res, body) => {
    const text = JSON.stringify({ call: ++calls, body: body.toString() });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  t.after(() => up.close());
  const yaml = `version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
limits: { drainTimeout: 1s }
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: /, prefix: true }, timeout: 5s, cache: { ttl: 60s }, backends: [ { to: u } ] }
cache: { maxBytes: 8MiB, store: redis, redis: { url: "\${REDIS_URL}", prefix: "e2e:" } }
telemetry: { accessLog: true, tracing: false }
`;
  const env = { REDIS_URL: redis.url };
  const [a, b] = await Promise.all([startOutrider(yaml, { env }), startOutrider(yaml, { env })]);
  t.after(async () => { await Promise.all([a.stop(), b.stop()]); });
  const connected = async (admin: string) => {
    for (let i = 0; i < 100; i++) {
      const r = await (await fetch(`${admin}/routes`)).json() as { routes: { cache: { store: { connected: boolean } } }[] };
      if (r.routes[0]!.cache.store.connected) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('not connected to redis');
  };
  await Promise.all([connected(a.admin), connected(b.admin)]);
  const post = async (base: string, body: string) => {
    const res = await fetch(`${base}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, cache: res.headers.get('x-outrider-cache'), text: await res.text() };
  };

  const first = await post(a.data, '{"q":1}');
  assert.equal(first.cache, 'miss');
  // The write is fire and forget: B sees it as soon as it has landed.
  let shared = await post(b.data, '{"q":1}');
  for (let i = 0; i < 20 && shared.cache !== 'hit'; i++) {
    await new Promise((r) => setTimeout(r, 25));
    shared = await post(b.data, '{"q":1}');
  }
  assert.equal(shared.cache, 'hit');
  assert.equal(shared.text, first.text);
  const before = calls;

  // Redis dies: both replicas keep answering, from the backend.
  await redis.kill();
  const during = await Promise.all([post(a.data, '{"q":2}'), post(b.data, '{"q":3}'), post(b.data, '{"q":2}')]);
  assert.deepEqual(during.map((r) => r.status), [200, 200, 200]);
  assert.deepEqual(during.map((r) => r.cache), ['miss', 'miss', 'miss']);
  assert.equal(calls, before + 3);
  // What a replica holds in its own short-lived front still answers.
  assert.equal((await post(a.data, '{"q":2}')).cache, 'hit');

  // Redis is back (empty): both reconnect in the background and share again.
  await redis.restart();
  await Promise.all([connected(a.admin), connected(b.admin)]);
  await new Promise((r) => setTimeout(r, 1_100));   // past any skip window
  assert.equal((await post(a.data, '{"q":4}')).cache, 'miss');
  let again = await post(b.data, '{"q":4}');
  for (let i = 0; i < 20 && again.cache !== 'hit'; i++) {
    await new Promise((r) => setTimeout(r, 25));
    again = await post(b.data, '{"q":4}');
  }
  assert.equal(again.cache, 'hit');

  const purge = await (await fetch(`${a.admin}/cache/purge?route=r`, { method: 'POST' })).json() as { purged: number };
  assert.ok(purge.purged >= 1);

  // The password appears nowhere: not in /config, not in any log line of either replica.
  const cfg = await (await fetch(`${a.admin}/config`)).text();
  assert.ok(!cfg.includes(PASSWORD));
  assert.match(cfg, /redis:\/\/:\*\*\*@127\.0\.0\.1/);
  const routes = await (await fetch(`${a.admin}/routes`)).text();
  assert.ok(!routes.includes(PASSWORD));
  await Promise.all([a.stop(), b.stop()]);
  for (const o of [a, b]) {
    const text = JSON.stringify(o.logs) + o.stderr.join('\n');
    assert.ok(!text.includes(PASSWORD), 'no password in the logs');
    assert.ok(o.logs.some((l) => l['msg'] === 'cache: redis connection lost; the cache is bypassed until it is back'), JSON.stringify(o.logs.filter((l) => String(l['msg']).includes('redis'))));
  }
});
