// The weighted split: accuracy by weight, sticky keys by weighted rendezvous hashing, minimal
// movement on a weight change, and the share of a backend that is down going to the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { BackendSet, Endpoint } from '../../../runtime/types.ts';
import { RequestContext } from '../../../proxy/context.ts';
import { OutriderError } from '../../../proxy/errors.ts';
import { createEventBus } from '../../../proxy/events.ts';
import { createSplit, LiveWeights } from '../../../policies/split/index.ts';
import { OpenBreakers } from '../../../policies/split/breakers.ts';
import { BREAKER_STATE } from '../../../policies/breaker/events.ts';

/** A backend set whose ready endpoints the test controls (a replica crashing, coming back). */
function backend(name: string): BackendSet & { ready: Endpoint[] } {
  const set = {
    name,
    kind: 'upstream' as const,
    version: '',
    ready: [{ id: `${name}/0`, origin: 'http://127.0.0.1:9', backend: name }] as Endpoint[],
    endpoints: () => set.ready,
  };
  return set;
}

function request(headers: Record<string, string> = {}): RequestContext {
  const req = new http.IncomingMessage(new net.Socket());
  req.headers = headers;
  return new RequestContext('t', req, new http.ServerResponse(req), performance.now());
}

function sets(...bs: BackendSet[]): Map<string, BackendSet> {
  return new Map(bs.map((b) => [b.name, b]));
}

function route(weights: Record<string, number>, sticky = false) {
  return { name: 'r', backends: Object.entries(weights).map(([to, weight]) => ({ to, weight })), sticky: sticky ? { header: 'x-user' } : null };
}

function shares(counts: Map<string, number>, total: number): Record<string, number> {
  return Object.fromEntries([...counts].map(([k, v]) => [k, (v / total) * 100]));
}

test('requests without the sticky header are split by weight exactly, interleaved', () => {
  const a = backend('a');
  const b = backend('b');
  const c = backend('c');
  const split = createSplit(route({ a: 60, b: 30, c: 10 }, true), { sets: sets(a, b, c) });
  const counts = new Map<string, number>();
  const ctx = request();
  const n = 10_000;
  let lastC = -1;
  let longestGapC = 0;
  for (let i = 0; i < n; i++) {
    const name = split.choose(ctx).name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if (name === 'c') {
      if (lastC !== -1) longestGapC = Math.max(longestGapC, i - lastC);
      lastC = i;
    }
  }
  assert.deepEqual(shares(counts, n), { a: 60, b: 30, c: 10 });
  // Smooth: a 10% backend gets one request in every ten, not ten in a row now and then.
  assert.equal(longestGapC, 10);
});

test('sticky keys: the same value keeps its backend, and keys spread by weight', () => {
  const a = backend('a');
  const b = backend('b');
  const split = createSplit(route({ a: 90, b: 10 }, true), { sets: sets(a, b) });
  const first = new Map<string, string>();
  const n = 20_000;
  let toB = 0;
  for (let i = 0; i < n; i++) {
    const key = `user-${i}`;
    const name = split.choose(request({ 'x-user': key })).name;
    first.set(key, name);
    if (name === 'b') toB++;
  }
  assert.ok(Math.abs((toB / n) * 100 - 10) < 1, `b got ${(toB / n) * 100}% of the keys`);
  for (let i = 0; i < n; i += 7) {
    const key = `user-${i}`;
    assert.equal(split.choose(request({ 'x-user': key })).name, first.get(key), key);
  }
});

test('a weight change 90/10 -> 80/20 moves only keys from a to b, about 10% of them', () => {
  const a = backend('a');
  const b = backend('b');
  const before = createSplit(route({ a: 90, b: 10 }, true), { sets: sets(a, b) });
  const weights = new LiveWeights(route({ a: 90, b: 10 }).backends);
  const after = createSplit(route({ a: 90, b: 10 }, true), { sets: sets(a, b), weights });
  weights.setShare('b', 20);
  assert.equal(Math.round(weights.sharePercent('b')), 20);
  const n = 20_000;
  let moved = 0;
  for (let i = 0; i < n; i++) {
    const ctx = request({ 'x-user': `k${i}` });
    const x = before.choose(ctx).name;
    const y = after.choose(ctx).name;
    if (x !== y) {
      moved++;
      assert.equal(x, 'a', 'a key moved away from the backend that gained weight');
    }
  }
  const pct = (moved / n) * 100;
  assert.ok(pct > 9 && pct <= 11, `${pct}% of the keys moved`);
});

test('a backend with no ready endpoint gets nothing; only its own sticky keys move', () => {
  const a = backend('a');
  const b = backend('b');
  const c = backend('c');
  const split = createSplit(route({ a: 50, b: 30, c: 20 }, true), { sets: sets(a, b, c) });
  const n = 10_000;
  const before: string[] = [];
  for (let i = 0; i < n; i++) before.push(split.choose(request({ 'x-user': `k${i}` })).name);
  b.ready = [];
  let movedFromB = 0;
  const toA = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const now = split.choose(request({ 'x-user': `k${i}` })).name;
    assert.notEqual(now, 'b');
    if (before[i] === 'b') {
      movedFromB++;
      toA.set(now, (toA.get(now) ?? 0) + 1);
    } else {
      assert.equal(now, before[i], `key k${i} of a backend still up moved`);
    }
  }
  // b's keys spread over a and c in their weights' proportion (50:20).
  const aShare = (toA.get('a') ?? 0) / movedFromB;
  assert.ok(Math.abs(aShare - 50 / 70) < 0.04, `a took ${aShare} of b's keys`);
  const s = split.shares();
  assert.deepEqual(s.map((x) => [x.name, x.up, Math.round(x.effectivePercent * 100) / 100]), [['a', true, 71.43], ['b', false, 0], ['c', true, 28.57]]);
  // Random (non-sticky) requests also avoid it.
  for (let i = 0; i < 2_000; i++) assert.notEqual(split.choose(request()).name, 'b');
  b.ready = [{ id: 'b/0', origin: 'http://127.0.0.1:9', backend: 'b' }];
  for (let i = 0; i < n; i += 13) assert.equal(split.choose(request({ 'x-user': `k${i}` })).name, before[i], 'keys go back once b is up');
});

test('nothing weighted is up: unavailable; weight 0 takes no traffic even then', () => {
  const a = backend('a');
  const b = backend('b');
  const split = createSplit(route({ a: 1, b: 0 }, true), { sets: sets(a, b) });
  for (let i = 0; i < 1_000; i++) assert.equal(split.choose(request({ 'x-user': `k${i}` })).name, 'a');
  a.ready = [];
  assert.throws(() => split.choose(request()), (e: unknown) => e instanceof OutriderError && e.code === 'unavailable' && e.status === 503);
  assert.throws(() => split.choose(request({ 'x-user': 'k' })), (e: unknown) => e instanceof OutriderError && e.code === 'unavailable');
});

test('a backend whose breaker is open gets no traffic until the breaker is no longer open', () => {
  const a = backend('a');
  const b = backend('b');
  const events = createEventBus();
  const open = new OpenBreakers('r', events);
  const split = createSplit(route({ a: 50, b: 50 }), { sets: sets(a, b), down: (n) => open.has(n) });
  events.emit(BREAKER_STATE, { route: 'r', backend: 'b', state: 'open', previous: 'closed' });
  // Another route's breaker for the same backend is not this route's.
  events.emit(BREAKER_STATE, { route: 'other', backend: 'a', state: 'open', previous: 'closed' });
  for (let i = 0; i < 1_000; i++) assert.equal(split.choose(request()).name, 'a');
  events.emit(BREAKER_STATE, { route: 'r', backend: 'b', state: 'half-open', previous: 'open' });
  let sawB = false;
  for (let i = 0; i < 1_000 && !sawB; i++) sawB = split.choose(request()).name === 'b';
  assert.ok(sawB, 'a half-open breaker gets traffic for its probe');
  open.dispose();
  assert.equal(events.listenerCount(BREAKER_STATE), 0);
});

test('live weights: setShare keeps the others in proportion; restore goes back', () => {
  const w = new LiveWeights([{ to: 'a', weight: 3 }, { to: 'b', weight: 1 }, { to: 'c', weight: 1 }]);
  w.setShare('c', 50);
  assert.equal(w.sharePercent('c'), 50);
  assert.equal(w.sharePercent('a'), 37.5);
  w.setShare('c', 100);
  assert.equal(w.sharePercent('c'), 100);
  assert.equal(w.get('a'), 0);
  w.setShare('c', 0);
  assert.equal(w.sharePercent('a'), 75);
  w.restore();
  assert.deepEqual(w.current, [3, 1, 1]);
  assert.throws(() => w.setShare('nope', 5), /not one of this route's backends/);
});
