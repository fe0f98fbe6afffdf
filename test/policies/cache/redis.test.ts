// The Redis tier against a real redis-server: entries shared between two stores (two
// replicas), the key prefix, purges, and a Redis that dies, stalls and comes back: reads are
// misses within the read timeout, writes never throw, and the client reconnects by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Redis } from 'ioredis';
import { READ_TIMEOUT_MS, RedisStore } from '../../../proxy/cache/redis.ts';
import { storeKey } from '../../../proxy/cache/store.ts';
import { startRedis } from '../../helpers/redis.ts';

const quiet = pino({ level: 'silent' });

async function until(what: string, pred: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${what} within ${ms} ms`);
}

function stores(t: { after(fn: () => Promise<void>): void }, url: string, prefix = 'outrider:'): [RedisStore, RedisStore] {
  const a = new RedisStore({ url, prefix, maxBytes: 1 << 20, log: quiet });
  const b = new RedisStore({ url, prefix, maxBytes: 1 << 20, log: quiet });
  t.after(async () => { await a.close(); await b.close(); });
  return [a, b];
}

test('what one replica stores, another reads; keys carry the prefix and expire with the entry', async (t) => {
  const redis = await startRedis(t);
  const [a, b] = stores(t, redis.url, 'test:');
  await until('connected', () => a.describe()['connected'] === true && b.describe()['connected'] === true);
  const key = storeKey('r', 'route', 'k1');
  a.set(key, Buffer.from([0, 1, 2, 255]), 300);
  await until('stored', async () => (await b.get(key)) !== null);
  assert.deepEqual([...(await b.get(key))!], [0, 1, 2, 255]);
  const raw = new Redis(redis.url);
  t.after(async () => { await raw.quit(); });
  assert.deepEqual(await raw.keys('*'), [`test:${key}`]);
  const pttl = await raw.pttl(`test:${key}`);
  assert.ok(pttl > 0 && pttl <= 300);
  await new Promise((r) => setTimeout(r, 350));
  assert.equal(await b.get(storeKey('r', 'route', 'k1')), null, 'b\'s local copy lived no longer than the shared one');
});

test('purge deletes one route\'s entries or all of them under the prefix, and leaves other prefixes alone', async (t) => {
  const redis = await startRedis(t);
  const [a] = stores(t, redis.url, 'p1:');
  const [other] = stores(t, redis.url, 'p2:');
  await until('connected', () => a.describe()['connected'] === true && other.describe()['connected'] === true);
  for (let i = 0; i < 30; i++) a.set(storeKey(i % 2 === 0 ? 'r' : 'e', i < 20 ? 'one' : 'two*', `k${i}`), Buffer.from('v'), 60_000);
  other.set(storeKey('r', 'one', 'x'), Buffer.from('v'), 60_000);
  const raw = new Redis(redis.url);
  t.after(async () => { await raw.quit(); });
  await until('written', async () => (await raw.dbsize()) === 31);
  assert.equal(await a.purge('one'), 20);
  assert.equal(await a.purge('two*'), 10);
  assert.equal(await raw.dbsize(), 1);
  assert.equal(await other.purge(null), 1);
  assert.equal(await raw.dbsize(), 0);
});

test('a Redis that dies, stalls or comes back never fails or slows a read past the timeout', async (t) => {
  const redis = await startRedis(t);
  const [a] = stores(t, redis.url);
  await until('connected', () => a.describe()['connected'] === true);
  const key = storeKey('r', 'route', 'k');
  a.set(key, Buffer.from('v'), 60_000);

  // Stalled: connected but silent. Reads give up after READ_TIMEOUT_MS, then Redis is skipped.
  redis.pause();
  const other = storeKey('r', 'route', 'not-local');
  let start = performance.now();
  assert.equal(await a.get(other), null);
  assert.ok(performance.now() - start < READ_TIMEOUT_MS + 40, `read took ${performance.now() - start} ms`);
  for (let i = 0; i < 5; i++) await a.get(other);
  start = performance.now();
  assert.equal(await a.get(other), null);
  assert.ok(performance.now() - start < 10, 'skipped while failing');
  assert.doesNotThrow(() => a.set(storeKey('r', 'route', 'w'), Buffer.from('v'), 60_000));
  redis.resume();

  // Dead: the connection drops; reads are immediate misses, writes are dropped.
  await redis.kill();
  await until('disconnected', () => a.describe()['connected'] === false);
  start = performance.now();
  assert.equal(await a.get(other), null);
  assert.ok(performance.now() - start < 10);
  a.set(storeKey('r', 'route', 'x'), Buffer.from('v'), 60_000);
  // Entries this replica already holds locally still answer.
  assert.equal((await a.get(storeKey('r', 'route', 'x')))?.toString(), 'v');

  // Back: the client reconnects in the background and the shared tier works again.
  await redis.restart();
  await until('reconnected', () => a.describe()['connected'] === true, 8_000);
  const [b] = stores(t, redis.url);
  await until('b connected', () => b.describe()['connected'] === true);
  await new Promise((r) => setTimeout(r, 1_100));   // past the skip window
  a.set(storeKey('r', 'route', 'after'), Buffer.from('again'), 60_000);
  await until('shared again', async () => (await b.get(storeKey('r', 'route', 'after')))?.toString() === 'again');
});
