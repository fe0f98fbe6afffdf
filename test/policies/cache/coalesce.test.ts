// Request coalescing and stale-if-error against real loopback upstreams that count calls:
// 100 identical requests in flight reach the backend once; a leader that fails or whose
// client leaves does not take its waiters down with it; answers that cannot be shared are
// not; the fallback's `cache: stale` step serves expired entries within staleFor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, HEAD, startProxy } from '../../helpers/inprocess.ts';
import { startUpstream } from '../../helpers/upstreams.ts';
import type { Behaviour } from '../../helpers/upstreams.ts';

/** Answers call n (1-based) with `plan(n)` after `delayMs`. */
function planned(delayMs: number, plan: (n: number) => { status: number; headers?: Record<string, string> } | 'reset'): Behaviour {
  let n = 0;
  return (_req, res) => {
    const k = ++n;
    setTimeout(() => {
      const p = plan(k);
      if (p === 'reset') { res.socket?.resetAndDestroy(); return; }
      const text = JSON.stringify({ call: k });
      res.writeHead(p.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...p.headers });
      res.end(text);
    }, delayMs);
  };
}

const post = (url: string, body = '{"x":1}', signal?: AbortSignal) =>
  call(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal });

function tally(results: { headers: Headers }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const k = r.headers.get('x-outrider-cache') ?? 'none';
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

const route = (origin: string, extra = '') => `${HEAD}
upstreams: [ { name: u, endpoints: [${origin}] } ]
routes:
  - { name: r, match: { path: /, prefix: true }, timeout: 5s, cache: { ttl: 60s${extra} }, backends: [ { to: u } ] }
`;

test('100 concurrent identical requests reach the backend exactly once', async (t) => {
  const up = await startUpstream(planned(150, () => ({ status: 200 })));
  t.after(() => up.close());
  const p = await startProxy(t, route(up.origin));
  const results = await Promise.all(Array.from({ length: 100 }, () => post(`${p.data}/infer`)));
  assert.equal(up.seen.length, 1);
  assert.ok(results.every((r) => r.status === 200 && r.text === '{"call":1}'));
  assert.deepEqual(tally(results), { miss: 1, coalesced: 99 });
  assert.equal(await p.metric('outrider_cache_requests_total', { route: 'r', result: 'coalesced' }), 99);
  // And once stored, later ones are plain hits.
  assert.equal((await post(`${p.data}/infer`)).headers.get('x-outrider-cache'), 'hit');
});

test('when the leader gets a 5xx, one waiter leads again and the rest get its answer', async (t) => {
  const up = await startUpstream(planned(100, (n) => ({ status: n === 1 ? 503 : 200 })));
  t.after(() => up.close());
  const p = await startProxy(t, route(up.origin));
  const leader = post(`${p.data}/infer`);
  await new Promise((r) => setTimeout(r, 30));
  const waiters = await Promise.all(Array.from({ length: 20 }, () => post(`${p.data}/infer`)));
  const first = await leader;
  assert.equal(first.status, 503);
  assert.equal(up.seen.length, 2);
  assert.ok(waiters.every((r) => r.status === 200 && r.text === '{"call":2}'));
  assert.deepEqual(tally(waiters), { miss: 1, coalesced: 19 });
});

test('when the leader fails outright (reset), waiters are not failed with it', async (t) => {
  const up = await startUpstream(planned(100, (n) => (n === 1 ? 'reset' : { status: 200 })));
  t.after(() => up.close());
  const p = await startProxy(t, route(up.origin));
  const leader = post(`${p.data}/infer`);
  await new Promise((r) => setTimeout(r, 30));
  const waiters = await Promise.all(Array.from({ length: 10 }, () => post(`${p.data}/infer`)));
  assert.equal((await leader).status, 502);
  assert.equal(up.seen.length, 2);
  assert.ok(waiters.every((r) => r.status === 200));
  assert.deepEqual(tally(waiters), { miss: 1, coalesced: 9 });
});

test('when the leader\'s client leaves, its backend call is cancelled and a waiter takes over', async (t) => {
  const up = await startUpstream(planned(200, () => ({ status: 200 })));
  t.after(() => up.close());
  const p = await startProxy(t, route(up.origin));
  const gone = new AbortController();
  const leader = post(`${p.data}/infer`, '{"x":1}', gone.signal).catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 30));
  const waiting = Promise.all(Array.from({ length: 10 }, () => post(`${p.data}/infer`)));
  await new Promise((r) => setTimeout(r, 50));
  gone.abort();
  const waiters = await waiting;
  assert.ok((await leader) instanceof Error);
  assert.ok(waiters.every((r) => r.status === 200 && r.text === '{"call":2}'));
  assert.deepEqual(tally(waiters), { miss: 1, coalesced: 9 });
  assert.equal(up.seen.length, 2);
  assert.equal(up.aborted, 1);
});

test('a deterministic client error is shared with waiters, an answer marked no-store is not', async (t) => {
  const bad = await startUpstream(planned(100, () => ({ status: 400 })));
  const priv = await startUpstream(planned(100, () => ({ status: 200, headers: { 'cache-control': 'no-store' } })));
  t.after(async () => { await Promise.all([bad.close(), priv.close()]); });
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: bad, endpoints: [${bad.origin}] }, { name: priv, endpoints: [${priv.origin}] } ]
routes:
  - { name: bad, match: { path: /bad }, cache: { ttl: 60s }, backends: [ { to: bad } ] }
  - { name: priv, match: { path: /priv }, cache: { ttl: 60s }, backends: [ { to: priv } ] }
`);
  const bads = await Promise.all(Array.from({ length: 10 }, () => post(`${p.data}/bad`)));
  assert.equal(bad.seen.length, 1);
  assert.ok(bads.every((r) => r.status === 400 && r.text === '{"call":1}'));
  assert.deepEqual(tally(bads), { miss: 1, coalesced: 9 });
  const privs = await Promise.all(Array.from({ length: 10 }, () => post(`${p.data}/priv`)));
  assert.equal(priv.seen.length, 10);
  assert.equal(new Set(privs.map((r) => r.text)).size, 10);
  assert.deepEqual(tally(privs), { miss: 10 });
});

test('stale-if-error: an expired entry answers within staleFor when the backend fails, marked stale and degraded', async (t) => {
  let failing = false;
  const up = await startUpstream(planned(0, () => ({ status: failing ? 503 : 200 })));
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - name: r
    match: { path: /, prefix: true }
    cache: { ttl: 100ms, staleFor: 600ms }
    backends: [ { to: u } ]
    fallback: [ { cache: stale }, { static: { status: 200, json: { outputs: [] } } } ]
`);
  assert.equal((await post(`${p.data}/infer`)).text, '{"call":1}');
  await new Promise((r) => setTimeout(r, 150));
  failing = true;
  const stale = await post(`${p.data}/infer`);
  assert.equal(stale.status, 200);
  assert.equal(stale.text, '{"call":1}');
  assert.equal(stale.headers.get('x-outrider-cache'), 'stale');
  assert.equal(stale.headers.get('x-outrider-degraded'), 'stale-cache');
  assert.match(stale.headers.get('age') ?? '', /^[0-9]+$/);
  assert.equal(up.seen.length, 2);
  // A stale answer is not stored as fresh: the next request tries the backend again.
  assert.equal((await post(`${p.data}/infer`)).headers.get('x-outrider-cache'), 'stale');
  assert.equal(up.seen.length, 3);
  // Past staleFor the entry is gone and the next rung answers.
  await new Promise((r) => setTimeout(r, 650));
  const late = await post(`${p.data}/infer`);
  assert.equal(late.headers.get('x-outrider-degraded'), 'static');
  assert.equal(late.headers.get('x-outrider-cache'), 'miss');
  assert.equal(await p.metric('outrider_cache_requests_total', { route: 'r', result: 'stale' }), 2);
});
