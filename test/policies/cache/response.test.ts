// The response cache in front of real loopback upstreams that count their calls: hits, key
// canonicalisation, TTL, vary, what is never stored, Cache-Control from both sides, large
// answers streamed through, purge and the per-route hit ratio.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, HEAD, startProxy } from '../../helpers/inprocess.ts';
import { echo, startUpstream } from '../../helpers/upstreams.ts';
import type { Behaviour } from '../../helpers/upstreams.ts';

/** 200 with a JSON body naming the call number, plus `headers`. */
function counted(headers: Record<string, string> = {}, size = 0): Behaviour {
  let n = 0;
  return (req, res, body) => {
    n++;
    const text = JSON.stringify({ call: n, body: body.toString(), pad: 'x'.repeat(size) });
    // Echoes the request id, as runtimes do: a hit must not hand out the first caller's.
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-upstream': 'counted', 'x-request-id': String(req.headers['x-request-id']), ...headers });
    res.end(text);
  };
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  call(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

test('a repeated request is a hit: same status, headers and body, an Age, one backend call; JSON key order and spacing do not matter', async (t) => {
  const up = await startUpstream(counted());
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: /, prefix: true }, cache: { ttl: 60s }, backends: [ { to: u } ] }
`);
  const first = await post(`${p.data}/v2/models/m/infer?x=1`, '{"b":1,"a":[1,2,{"d":1,"c":2}]}');
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-outrider-cache'), 'miss');
  assert.equal(first.headers.get('age'), null);
  const second = await post(`${p.data}/v2/models/m/infer?x=1`, ' { "a": [1, 2, {"c": 2, "d": 1.0}], "b": 1 } ');
  assert.equal(second.status, 200);
  assert.equal(second.headers.get('x-outrider-cache'), 'hit');
  assert.equal(second.headers.get('x-outrider-backend'), 'u');
  assert.equal(second.headers.get('x-upstream'), 'counted');
  assert.equal(second.headers.get('content-type'), 'application/json');
  assert.equal(second.headers.get('content-length'), String(Buffer.byteLength(first.text)));
  assert.match(second.headers.get('age') ?? '', /^[0-9]+$/);
  assert.doesNotMatch(second.headers.get('x-request-id') ?? '', /,/);
  assert.doesNotMatch(second.headers.get('x-request-id') ?? '', new RegExp(first.headers.get('x-request-id')!.split(',')[0]!));
  assert.equal(second.text, first.text);
  assert.equal(up.seen.length, 1);

  // Another query, method or body is another key.
  await post(`${p.data}/v2/models/m/infer?x=2`, '{"b":1,"a":[1,2,{"d":1,"c":2}]}');
  await post(`${p.data}/v2/models/m/infer?x=1`, '{"b":1,"a":[2,1,{"d":1,"c":2}]}');
  const get = await call(`${p.data}/v2/models/m/infer?x=1`);
  assert.equal(get.headers.get('x-outrider-cache'), 'miss');
  assert.equal(up.seen.length, 4);
  // Non-JSON bodies are keyed by their bytes and media type.
  await post(`${p.data}/raw`, 'a b', { 'content-type': 'text/plain' });
  assert.equal((await post(`${p.data}/raw`, 'a b', { 'content-type': 'text/plain' })).headers.get('x-outrider-cache'), 'hit');
  assert.equal((await post(`${p.data}/raw`, 'a  b', { 'content-type': 'text/plain' })).headers.get('x-outrider-cache'), 'miss');
  assert.equal(up.seen.length, 6);

  assert.equal(await p.metric('outrider_cache_requests_total', { route: 'r', result: 'hit' }), 2);
  assert.equal(await p.metric('outrider_cache_requests_total', { route: 'r', result: 'miss' }), 6);
  assert.ok(await p.metric('outrider_cache_bytes') > 0);
  const status = (await p.route('r'))['cache'] as Record<string, unknown>;
  assert.equal(status['hit'], 2);
  assert.equal(status['hitRatio'], 0.25);
});

test('entries expire after the TTL', async (t) => {
  const up = await startUpstream(counted());
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: /, prefix: true }, cache: { ttl: 150ms }, backends: [ { to: u } ] }
`);
  await post(`${p.data}/a`, '{}');
  assert.equal((await post(`${p.data}/a`, '{}')).headers.get('x-outrider-cache'), 'hit');
  await new Promise((r) => setTimeout(r, 250));
  const after = await post(`${p.data}/a`, '{}');
  assert.equal(after.headers.get('x-outrider-cache'), 'miss');
  assert.equal(JSON.parse(after.text).call, 2);
  assert.equal(up.seen.length, 2);
});

test('vary headers are part of the key; so are request headers the response Vary names', async (t) => {
  const up = await startUpstream(counted({ vary: 'accept-language' }));
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: /, prefix: true }, cache: { ttl: 60s, vary: [X-Tenant] }, backends: [ { to: u } ] }
`);
  const blue = { 'x-tenant': 'blue' };
  assert.equal((await post(`${p.data}/a`, '{}', blue)).headers.get('x-outrider-cache'), 'miss');
  assert.equal((await post(`${p.data}/a`, '{}', blue)).headers.get('x-outrider-cache'), 'hit');
  assert.equal((await post(`${p.data}/a`, '{}', { 'x-tenant': 'red' })).headers.get('x-outrider-cache'), 'miss');
  assert.equal((await post(`${p.data}/a`, '{}')).headers.get('x-outrider-cache'), 'miss');
  assert.equal((await post(`${p.data}/a`, '{}', { 'x-tenant': '' })).headers.get('x-outrider-cache'), 'miss');
  assert.equal(up.seen.length, 4);
  // The stored blue answer was for no Accept-Language: a request with one needs its own.
  assert.equal((await post(`${p.data}/a`, '{}', { ...blue, 'accept-language': 'fr' })).headers.get('x-outrider-cache'), 'miss');
  assert.equal((await post(`${p.data}/a`, '{}', { ...blue, 'accept-language': 'fr' })).headers.get('x-outrider-cache'), 'hit');
  assert.equal(up.seen.length, 5);
});

test('errors, no-store, private, set-cookie and partial content are never stored', async (t) => {
  let status = 500;
  const failing = await startUpstream((_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': '4' });
    res.end('nope');
  });
  const noStore = await startUpstream(counted({ 'cache-control': 'no-store' }));
  const priv = await startUpstream(counted({ 'cache-control': 'private, max-age=60' }));
  const cookie = await startUpstream(counted({ 'set-cookie': 'session=1' }));
  const zero = await startUpstream(counted({ 'cache-control': 'max-age=0' }));
  t.after(async () => { await Promise.all([failing, noStore, priv, cookie, zero].map((u) => u.close())); });
  const p = await startProxy(t, `${HEAD}
upstreams:
  - { name: failing, endpoints: [${failing.origin}] }
  - { name: nostore, endpoints: [${noStore.origin}] }
  - { name: private, endpoints: [${priv.origin}] }
  - { name: cookie, endpoints: [${cookie.origin}] }
  - { name: zero, endpoints: [${zero.origin}] }
routes:
  - { name: failing, match: { path: /failing }, cache: { ttl: 60s }, backends: [ { to: failing } ] }
  - { name: nostore, match: { path: /nostore }, cache: { ttl: 60s }, backends: [ { to: nostore } ] }
  - { name: private, match: { path: /private }, cache: { ttl: 60s }, backends: [ { to: private } ] }
  - { name: cookie, match: { path: /cookie }, cache: { ttl: 60s }, backends: [ { to: cookie } ] }
  - { name: zero, match: { path: /zero }, cache: { ttl: 60s }, backends: [ { to: zero } ] }
`);
  for (const s of [500, 503, 404, 400, 206]) {
    status = s;
    const a = await post(`${p.data}/failing`, '{}');
    const b = await post(`${p.data}/failing`, '{}');
    assert.equal(a.status, s);
    assert.equal(b.status, s);
    assert.equal(b.headers.get('x-outrider-cache'), 'miss');
  }
  assert.equal(failing.seen.length, 10);
  for (const [path, up] of [['/nostore', noStore], ['/private', priv], ['/cookie', cookie], ['/zero', zero]] as const) {
    await post(`${p.data}${path}`, '{}');
    const again = await post(`${p.data}${path}`, '{}');
    assert.equal(again.headers.get('x-outrider-cache'), 'miss', path);
    assert.equal(up.seen.length, 2, path);
  }
});

test('request Cache-Control: no-store stays out of the cache, no-cache skips the lookup but stores the fresh answer', async (t) => {
  const up = await startUpstream(counted());
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: /, prefix: true }, cache: { ttl: 60s }, backends: [ { to: u } ] }
`);
  const a = await post(`${p.data}/a`, '{}', { 'cache-control': 'no-store' });
  assert.equal(a.headers.get('x-outrider-cache'), 'miss');
  assert.equal((await post(`${p.data}/a`, '{}')).headers.get('x-outrider-cache'), 'miss');
  assert.equal(up.seen.length, 2);
  const fresh = await post(`${p.data}/a`, '{}', { 'cache-control': 'no-cache' });
  assert.equal(fresh.headers.get('x-outrider-cache'), 'miss');
  assert.equal(JSON.parse(fresh.text).call, 3);
  const hit = await post(`${p.data}/a`, '{}');
  assert.equal(hit.headers.get('x-outrider-cache'), 'hit');
  assert.equal(JSON.parse(hit.text).call, 3);
  assert.equal((await post(`${p.data}/a`, '{}', { pragma: 'no-cache' })).headers.get('x-outrider-cache'), 'miss');
  assert.equal(up.seen.length, 4);
  assert.equal(await p.metric('outrider_cache_requests_total', { route: 'r', result: 'bypass' }), 1);
  // Methods other than GET and POST pass through, still marked.
  const put = await call(`${p.data}/a`, { method: 'PUT', body: '{}' });
  assert.equal(put.headers.get('x-outrider-cache'), 'miss');
  await call(`${p.data}/a`, { method: 'PUT', body: '{}' });
  assert.equal(up.seen.length, 6);
});

test('requests with credentials are stored only when the origin says the answer is shared, or the route keys on them', async (t) => {
  const plain = await startUpstream(counted());
  const pub = await startUpstream(counted({ 'cache-control': 'public, max-age=60' }));
  t.after(async () => { await Promise.all([plain.close(), pub.close()]); });
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: plain, endpoints: [${plain.origin}] }, { name: pub, endpoints: [${pub.origin}] } ]
routes:
  - { name: plain, match: { path: /plain }, cache: { ttl: 60s }, backends: [ { to: plain } ] }
  - { name: keyed, match: { path: /keyed }, cache: { ttl: 60s, vary: [authorization] }, backends: [ { to: plain } ] }
  - { name: pub, match: { path: /pub }, cache: { ttl: 60s }, backends: [ { to: pub } ] }
`);
  const auth = { authorization: 'Bearer a' };
  await post(`${p.data}/plain`, '{}', auth);
  assert.equal((await post(`${p.data}/plain`, '{}', auth)).headers.get('x-outrider-cache'), 'miss');
  await post(`${p.data}/keyed`, '{}', auth);
  assert.equal((await post(`${p.data}/keyed`, '{}', auth)).headers.get('x-outrider-cache'), 'hit');
  assert.equal((await post(`${p.data}/keyed`, '{}', { authorization: 'Bearer b' })).headers.get('x-outrider-cache'), 'miss');
  await post(`${p.data}/pub`, '{}', auth);
  assert.equal((await post(`${p.data}/pub`, '{}', auth)).headers.get('x-outrider-cache'), 'hit');
});

test('an answer larger than maxEntryBytes streams through whole and is not stored, with or without a declared length', async (t) => {
  const sized = await startUpstream(counted({}, 20_000));
  const chunked = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    for (let i = 0; i < 20; i++) res.write(Buffer.alloc(1000, 97 + i));
    res.end();
  });
  const small = await startUpstream(counted({}, 10));
  t.after(async () => { await Promise.all([sized.close(), chunked.close(), small.close()]); });
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: sized, endpoints: [${sized.origin}] }, { name: chunked, endpoints: [${chunked.origin}] }, { name: small, endpoints: [${small.origin}] } ]
routes:
  - { name: sized, match: { path: /sized }, cache: { ttl: 60s }, backends: [ { to: sized } ] }
  - { name: chunked, match: { path: /chunked }, cache: { ttl: 60s }, backends: [ { to: chunked } ] }
  - { name: small, match: { path: /small }, cache: { ttl: 60s }, backends: [ { to: small } ] }
cache: { maxBytes: 64KiB, maxEntryBytes: 4KiB }
`);
  for (let i = 0; i < 2; i++) {
    const a = await post(`${p.data}/sized`, '{}');
    assert.equal(a.status, 200);
    assert.equal(JSON.parse(a.text).pad.length, 20_000);
    assert.equal(a.headers.get('x-outrider-cache'), 'miss');
    const b = await post(`${p.data}/chunked`, '{}');
    assert.equal(b.text.length, 20_000);
    assert.equal(b.text, Array.from({ length: 20 }, (_, k) => String.fromCharCode(97 + k).repeat(1000)).join(''));
  }
  assert.equal(sized.seen.length, 2);
  assert.equal(chunked.seen.length, 2);
  await post(`${p.data}/small`, '{}');
  assert.equal((await post(`${p.data}/small`, '{}')).headers.get('x-outrider-cache'), 'hit');
});

test('POST /cache/purge empties the store, or one route of it, and says how many entries went', async (t) => {
  const up = await startUpstream(echo);
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: one, match: { path: /one }, cache: { ttl: 60s }, backends: [ { to: u } ] }
  - { name: two, match: { path: /two }, cache: { ttl: 60s }, backends: [ { to: u } ] }
`);
  for (const body of ['{"a":1}', '{"a":2}', '{"a":3}']) await post(`${p.data}/one`, body);
  for (const body of ['{"a":1}', '{"a":2}']) await post(`${p.data}/two`, body);
  const one = await fetch(`${p.admin}/cache/purge?route=one`, { method: 'POST' });
  assert.equal(one.status, 200);
  assert.deepEqual(await one.json(), { purged: 3, route: 'one' });
  assert.equal((await post(`${p.data}/one`, '{"a":1}')).headers.get('x-outrider-cache'), 'miss');
  assert.equal((await post(`${p.data}/two`, '{"a":1}')).headers.get('x-outrider-cache'), 'hit');
  const unknown = await fetch(`${p.admin}/cache/purge?route=nope`, { method: 'POST' });
  assert.equal(unknown.status, 404);
  assert.match(((await unknown.json()) as { error: { message: string } }).error.message, /known routes: one, two/);
  const all = await fetch(`${p.admin}/cache/purge`, { method: 'POST' });
  assert.deepEqual(await all.json(), { purged: 3, route: null });
  assert.equal(await p.metric('outrider_cache_bytes'), 0);
  assert.equal((await fetch(`${p.admin}/cache/purge`)).status, 405);
});
