// The cache hit's hot path: the exact-bytes key memo and the decoded-entry memo stay exact and
// bounded, and a body that arrives after its head still gets its own key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { KeyMemo } from '../../../policies/cache/key.ts';
import { decodeEntry, decodeStored, encodeEntry } from '../../../policies/cache/entry.ts';
import { HEAD, startProxy } from '../../helpers/inprocess.ts';
import { startUpstream } from '../../helpers/upstreams.ts';

test('the key memo answers only the exact head and bytes it saw, and stays within its bounds', () => {
  const memo = new KeyMemo();
  const body = Buffer.from('{"a":1}');
  const h = memo.hashOf(body);
  memo.set(h, 'head', body, 'k1');
  assert.equal(memo.get(h, 'head', Buffer.from('{"a":1}')), 'k1');
  assert.equal(memo.get(h, 'other', body), undefined);
  assert.equal(memo.get(h, 'head', Buffer.from('{"a":2}')), undefined);
  assert.notEqual(memo.hashOf(Buffer.from('{"a":2}')), h);
  // A crafted collision (same hash, other bytes) is never answered, and a bucket holds at most 4.
  for (let i = 0; i < 10; i++) memo.set(h, 'head', Buffer.from(`x${i}`), `c${i}`);
  assert.equal(memo.get(h, 'head', Buffer.from('x0')), 'c0');
  assert.equal(memo.get(h, 'head', Buffer.from('x5')), undefined);
  // Entries and bytes are bounded under a flood of unique bodies; the oldest go first.
  const big = new KeyMemo();
  let worst = 0;
  for (let i = 0; i < 20_000; i++) {
    const b = Buffer.alloc(i % 2 === 0 ? 4096 : 10, i % 251);
    b.writeUInt32LE(i, 0);
    big.set(big.hashOf(b), 'h', b, `k${i}`);
    worst = Math.max(worst, big.size.bytes);
  }
  assert.ok(worst <= 4 * 1024 * 1024, `held ${worst} bytes`);
  assert.ok(big.size.entries <= 4096);
  const last = Buffer.alloc(10, 19_999 % 251);
  last.writeUInt32LE(19_999, 0);
  assert.equal(big.get(big.hashOf(last), 'h', last), 'k19999');
});

test('a stored entry is decoded once per Buffer, and the memo forgets the oldest past its bound', () => {
  const make = () => encodeEntry({ status: 200, storedAt: 1, freshUntil: 2, initialAge: 0, backend: 'u', varies: [], headers: ['content-type', 'text/plain'], body: Buffer.from('hi') });
  const first = make();
  const a = decodeStored(first)!;
  assert.equal(decodeStored(first), a);
  assert.deepEqual(a, decodeEntry(first));
  for (let i = 0; i < 1100; i++) decodeStored(make());
  assert.notEqual(decodeStored(first), a);
  assert.deepEqual(decodeStored(first), a);
});

test('a body sent after its head (another packet) is read whole and keyed by its own bytes', async (t) => {
  let calls = 0;
  const up = await startUpstream((_req, res, body) => {
    calls++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: /, prefix: true }, cache: { ttl: 60s }, backends: [ { to: u } ] }
`);
  const port = Number(new URL(p.data).port);
  const send = (body: string, splitAt: number) => new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString(); if (got.includes('\r\n\r\n') && got.endsWith(body)) { s.end(); resolve(got); } });
    s.on('error', reject);
    s.write(`POST /k HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, splitAt)}`);
    setTimeout(() => s.write(body.slice(splitAt)), 50);
  });
  const a = await send('{"n":1,"pad":"aaaa"}', 0);
  assert.match(a, /x-outrider-cache: miss/);
  const b = await send('{"n":1,"pad":"aaaa"}', 7);
  assert.match(b, /x-outrider-cache: hit/);
  const c = await send('{"n":2,"pad":"aaaa"}', 7);
  assert.match(c, /x-outrider-cache: miss/);
  assert.ok(c.endsWith('{"n":2,"pad":"aaaa"}'));
  assert.equal(calls, 2);
});
