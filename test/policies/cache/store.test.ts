// The memory tier's byte bound under floods of unique keys, its lifetimes and purges, the
// entry encoding, and the bound seen from outside through the real proxy and its metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENTRY_OVERHEAD, MemoryStore } from '../../../proxy/cache/memory.ts';
import { storeKey } from '../../../proxy/cache/store.ts';
import { decodeEntry, encodeEntry, replyFromEntry } from '../../../policies/cache/entry.ts';
import { canonicalJson } from '../../../policies/cache/canonical.ts';
import { parseCacheControl, requestMode, storableFor } from '../../../policies/cache/control.ts';
import { call, HEAD, startProxy } from '../../helpers/inprocess.ts';
import { startUpstream } from '../../helpers/upstreams.ts';

test('the memory store never holds more than maxBytes, whatever the key pattern, and evicts the least recently used', () => {
  const maxBytes = 256 * 1024;
  const store = new MemoryStore({ maxBytes });
  const keep = storeKey('r', 'hot', 'kept');
  store.set(keep, Buffer.alloc(100), 60_000);
  let worst = 0;
  for (let i = 0; i < 100_000; i++) {
    // Keys and values of every size, including values larger than the whole store.
    const size = i % 997 === 0 ? maxBytes * 2 : (i * 7919) % 3000;
    store.set(storeKey('r', `route-${i % 7}`, `k${i}-${'x'.repeat(i % 50)}`), Buffer.alloc(size, i), 60_000);
    if (i % 50 === 0) store.peek(keep);   // kept recently used
    worst = Math.max(worst, store.bytes);
  }
  assert.ok(worst <= maxBytes, `held ${worst} bytes`);
  assert.ok(store.bytes > maxBytes * 0.9, 'the store fills up to its bound');
  assert.notEqual(store.peek(keep), null, 'a recently used entry survives the flood');
  assert.ok(store.entries < 1000);
});

test('entries are charged their value, key and bookkeeping; a slice does not pin its parent', () => {
  const store = new MemoryStore({ maxBytes: 1 << 20 });
  const parent = Buffer.alloc(64 * 1024, 1);
  const key = storeKey('r', 'a', 'b');
  store.set(key, parent.subarray(0, 10), 1000);
  assert.equal(store.bytes, 10 + key.length + ENTRY_OVERHEAD);
  const held = store.peek(key)!;
  assert.equal(held.buffer.byteLength, 10);
});

test('lifetimes, purge by route and resizing', async () => {
  const store = new MemoryStore({ maxBytes: 1 << 20 });
  store.set(storeKey('r', 'one', 'a'), Buffer.from('1'), 50);
  store.set(storeKey('e', 'one', 'b'), Buffer.from('2'), 60_000);
  store.set(storeKey('r', 'one:two', 'c'), Buffer.from('3'), 60_000);
  store.set(storeKey('r', 'two', 'd'), Buffer.from('4'), 60_000);
  store.set(storeKey('r', 'two', 'e'), Buffer.from('5'), 0);
  assert.equal(store.entries, 4);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(await store.get(storeKey('r', 'one', 'a')), null);
  assert.equal(await store.purge('one'), 1);
  assert.equal((await store.get(storeKey('r', 'one:two', 'c')))?.toString(), '3');
  const smaller = new MemoryStore({ maxBytes: 2 * (ENTRY_OVERHEAD + 40) });
  store.moveTo(smaller);
  assert.equal(store.entries, 0);
  assert.equal(smaller.entries, 2);
  assert.equal(await smaller.purge(null), 2);
  assert.equal(smaller.bytes, 0);
});

test('an entry round-trips through its encoding; foreign bytes decode to null', () => {
  const e = {
    status: 203, storedAt: 1_700_000_000_000, freshUntil: 1_700_000_060_000, initialAge: 7, backend: 'mlp-next',
    varies: [['accept-language', 'fr'], ['x-absent', null]] as [string, string | null][],
    headers: ['content-type', 'application/json', 'content-length', '999', 'x-caf\u00e9', 'cr\u00e8me', 'age', '3', 'via', '1.1 outrider'],
    body: Buffer.from('{"outputs":[1,2,3]}'),
  };
  const d = decodeEntry(encodeEntry(e))!;
  assert.equal(d.status, 203);
  assert.equal(d.storedAt, e.storedAt);
  assert.equal(d.freshUntil, e.freshUntil);
  assert.equal(d.initialAge, 7);
  assert.equal(d.backend, 'mlp-next');
  assert.deepEqual(d.varies, e.varies);
  assert.deepEqual(d.headers, ['content-type', 'application/json', 'x-caf\u00e9', 'cr\u00e8me', 'via', '1.1 outrider']);
  assert.equal(d.body.toString(), '{"outputs":[1,2,3]}');
  const reply = replyFromEntry(d, true, e.storedAt + 65_400);
  assert.deepEqual(reply.headers.slice(-4), ['content-length', '19', 'age', '72']);
  assert.equal(decodeEntry(Buffer.from('garbage')), null);
  assert.equal(decodeEntry(encodeEntry(e).subarray(0, 30)), null);
});

test('canonical JSON and Cache-Control rules', () => {
  assert.equal(canonicalJson({ b: [1, { z: 1, a: null }], a: 'x', u: undefined }), '{"a":"x","b":[1,{"a":null,"z":1}]}');
  assert.equal(canonicalJson(JSON.parse('{"n": 1.0, "m": 1e2}')), '{"m":100,"n":1}');
  assert.deepEqual(parseCacheControl('public, max-age="30", s-maxage=5, no-cache'), { noStore: false, noCache: true, private: false, public: true, mustRevalidate: false, maxAge: 30, sMaxAge: 5 });
  assert.equal(requestMode({ 'cache-control': 'max-age=0' }), 'revalidate');
  assert.equal(requestMode({ 'cache-control': 'no-store, no-cache' }), 'bypass');
  assert.equal(requestMode({ 'cache-control': 'max-age=10', pragma: 'no-cache' }), 'normal');
  assert.equal(storableFor(200, ['cache-control', 's-maxage=10', 'age', '4'], 60_000, false), 6_000);
  assert.equal(storableFor(200, ['cache-control', 'max-age=100'], 60_000, false), 60_000);
  assert.equal(storableFor(200, ['vary', 'accept, *'], 60_000, false), 0);
  assert.equal(storableFor(201, [], 60_000, true), 0);
  assert.equal(storableFor(201, ['cache-control', 'must-revalidate'], 60_000, true), 60_000);
});

test('through the proxy: a flood of unique requests keeps outrider_cache_bytes within cache.maxBytes', async (t) => {
  const up = await startUpstream((_req, res, body) => {
    const text = JSON.stringify({ echo: body.toString(), pad: 'p'.repeat(400) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  t.after(() => up.close());
  const maxBytes = 32 * 1024;
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: /, prefix: true }, cache: { ttl: 60s }, backends: [ { to: u } ] }
cache: { maxBytes: ${maxBytes} }
`);
  let worst = 0;
  for (let batch = 0; batch < 10; batch++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => call(`${p.data}/k/${batch}/${i}`, { method: 'POST', body: JSON.stringify({ i, batch }), headers: { 'content-type': 'application/json' } })));
    worst = Math.max(worst, await p.metric('outrider_cache_bytes'));
  }
  assert.ok(worst > maxBytes / 2, `the store filled (${worst})`);
  assert.ok(worst <= maxBytes, `held ${worst} bytes`);
  assert.ok(await p.metric('outrider_cache_entries') < 500 / 4);
  // The most recent entries are the ones still there.
  const last = await call(`${p.data}/k/9/49`, { method: 'POST', body: JSON.stringify({ i: 49, batch: 9 }), headers: { 'content-type': 'application/json' } });
  assert.equal(last.headers.get('x-outrider-cache'), 'hit');
  const first = await call(`${p.data}/k/0/0`, { method: 'POST', body: JSON.stringify({ i: 0, batch: 0 }), headers: { 'content-type': 'application/json' } });
  assert.equal(first.headers.get('x-outrider-cache'), 'miss');
});
