// Circuit breakers against real failing loopback upstreams: opening on the failure rate, the
// fast 503 with Retry-After, half-open probing, what does not count, the bulkhead, and reloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { call, HEAD, startProxy } from '../../helpers/inprocess.ts';
import { startUpstream } from '../../helpers/upstreams.ts';
import type { Behaviour } from '../../helpers/upstreams.ts';
import { EventEmitter } from 'node:events';
import { request } from 'undici';
import { Breaker } from '../../../policies/breaker/breaker.ts';
import { BREAKER_DISPOSED, BREAKER_REJECTED, BREAKER_STATE } from '../../../policies/breaker/events.ts';
import type { BreakerDisposedEvent, BreakerRejectedEvent, BreakerStateEvent } from '../../../policies/breaker/events.ts';
import type { RequestContext } from '../../../proxy/context.ts';
import type { OutriderError } from '../../../proxy/errors.ts';
import type { Reply } from '../../../proxy/pipeline.ts';

/** An upstream whose answer the test switches at run time. */
async function switchable(initial: number) {
  let code = initial;
  const up = await startUpstream((_req, res) => {
    const text = `status ${code}`;
    res.writeHead(code, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  return { up, set: (c: number) => { code = c; } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('opens past the failure rate, answers fast 503s with Retry-After, half-opens after openFor, closes on success', async (t) => {
  const { up, set } = await switchable(500);
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: / }, breaker: { failureRate: 50, minRequests: 10, window: 10s, openFor: 600ms }, backends: [ { to: u } ] }
`);
  const states = p.capture<BreakerStateEvent>(BREAKER_STATE);
  assert.equal(await p.metric('outrider_breaker_state', { backend: 'u' }), 0);
  // Below minRequests nothing is judged: the 500s pass through as they are.
  for (let i = 0; i < 10; i++) assert.equal((await call(`${p.data}/`)).status, 500);
  assert.equal(up.seen.length, 10);
  const open = await call(`${p.data}/`);
  assert.equal(open.status, 503);
  assert.equal(JSON.parse(open.text).error.code, 'unavailable');
  assert.equal(open.headers.get('retry-after'), '1');
  assert.ok(open.ms < 200, `refused in ${open.ms} ms`);
  assert.equal(up.seen.length, 10, 'an open breaker sends nothing');
  assert.equal(await p.metric('outrider_breaker_state', { backend: 'u' }), 2);
  assert.equal(await p.metric('outrider_route_breaker_state', { route: 'r', backend: 'u' }), 2);
  const status = (await p.route('r'))['breaker'] as Record<string, { state: string; failures: number; retryAfterSeconds: number }>;
  assert.equal(status['u']?.state, 'open');
  assert.equal(status['u']?.failures, 10);
  assert.equal(status['u']?.retryAfterSeconds, 1);

  set(200);
  await sleep(650);
  assert.equal(await p.metric('outrider_breaker_state', { backend: 'u' }), 1);
  assert.equal((await call(`${p.data}/`)).status, 200);
  assert.equal(await p.metric('outrider_breaker_state', { backend: 'u' }), 0);
  assert.deepEqual(states.map((s) => [s.previous, s.state]), [['closed', 'open'], ['open', 'half-open'], ['half-open', 'closed']]);
  // Closing cleared the window: one new failure does not reopen it.
  set(500);
  assert.equal((await call(`${p.data}/`)).status, 500);
  assert.equal((await call(`${p.data}/`)).status, 500);
  assert.equal(((await p.route('r'))['breaker'] as Record<string, { state: string }>)['u']?.state, 'closed');
});

test('Retry-After counts down the open time; half-open lets one probe through; a failed probe reopens', async (t) => {
  // The Breaker itself in front of a real failing upstream: the split in front of it would
  // otherwise send traffic elsewhere while it is open.
  const { up, set } = await switchable(503);
  t.after(() => up.close());
  const events = new EventEmitter();
  const rejected: BreakerRejectedEvent[] = [];
  events.on(BREAKER_REJECTED, (e: BreakerRejectedEvent) => rejected.push(e));
  const breaker = new Breaker('r', 'u', { failureRate: 50, minRequests: 4, window: 10_000, openFor: 2_500, maxConcurrent: 10 }, events);
  t.after(() => breaker.dispose());
  const ctx = { signal: new AbortController().signal, bodyError: null } as unknown as RequestContext;
  const slowly = { ms: 0 };
  const next = async (): Promise<Reply> => {
    if (slowly.ms > 0) await sleep(slowly.ms);
    const r = await request(up.origin);
    await r.body.dump();
    return { status: r.statusCode, headers: [], body: null };
  };
  const refusal = async (): Promise<OutriderError> => {
    try {
      await breaker.run(ctx, next);
    } catch (e) {
      return e as OutriderError;
    }
    throw new Error('the breaker let the request through');
  };
  for (let i = 0; i < 4; i++) assert.equal((await breaker.run(ctx, next)).status, 503);
  await sleep(10);
  let e = await refusal();
  assert.equal(e.code, 'unavailable');
  assert.equal(e.detail, 'breaker_open');
  assert.equal(e.retryAfter, 3);
  await sleep(1_100);
  assert.equal((await refusal()).retryAfter, 2);
  assert.equal(up.seen.length, 4);
  await sleep(1_450);
  assert.equal(breaker.status().state, 'half-open');
  // Half-open: one probe goes, the requests beside it are refused at once.
  slowly.ms = 100;
  const probe = breaker.run(ctx, next);
  e = await refusal();
  assert.equal(e.retryAfter, 1);
  assert.equal((await probe).status, 503);
  assert.equal(up.seen.length, 5);
  await sleep(10);
  // The probe failed: open again for the whole openFor.
  assert.equal(breaker.status().state, 'open');
  assert.equal((await refusal()).retryAfter, 3);
  assert.equal(rejected.length, 4);
  assert.deepEqual(rejected[0], { route: 'r', backend: 'u' });
  set(200);
});

test('4xx replies and client cancels are not failures', async (t) => {
  const notFound = await startUpstream((_req, res) => { res.writeHead(404, { 'content-length': '0' }); res.end(); });
  const stall = await startUpstream(() => { /* never answers */ });
  t.after(async () => { await Promise.all([notFound.close(), stall.close()]); });
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: nf, endpoints: [${notFound.origin}] }, { name: stall, endpoints: [${stall.origin}] } ]
routes:
  - { name: nf, match: { path: /nf }, breaker: { failureRate: 10, minRequests: 5 }, backends: [ { to: nf } ] }
  - { name: stall, match: { path: /stall }, breaker: { failureRate: 10, minRequests: 5 }, backends: [ { to: stall } ] }
`);
  for (let i = 0; i < 20; i++) assert.equal((await call(`${p.data}/nf`)).status, 404);
  assert.equal(((await p.route('nf'))['breaker'] as Record<string, { state: string; requests: number; failures: number }>)['nf']?.failures, 0);
  await Promise.all(Array.from({ length: 10 }, () => call(`${p.data}/stall`, { signal: AbortSignal.timeout(50) }).catch(() => null)));
  await sleep(100);
  const s = ((await p.route('stall'))['breaker'] as Record<string, { state: string; requests: number; inFlight: number }>)['stall'];
  assert.equal(s?.state, 'closed');
  assert.equal(s?.requests, 0, 'a cancelled request is neither a success nor a failure');
  assert.equal(s?.inFlight, 0);
  assert.equal(stall.aborted, 10, 'the cancels reached the upstream');
});

test('maxConcurrent is a bulkhead: over it, fast 503 overloaded with Retry-After', async (t) => {
  const slow: Behaviour = (_req, res) => setTimeout(() => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); }, 300);
  const up = await startUpstream(slow);
  t.after(() => up.close());
  const p = await startProxy(t, `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: r, match: { path: / }, breaker: { maxConcurrent: 2 }, backends: [ { to: u } ] }
`);
  const results = await Promise.all(Array.from({ length: 6 }, () => call(`${p.data}/`)));
  const ok = results.filter((r) => r.status === 200);
  const shed = results.filter((r) => r.status === 503);
  assert.equal(ok.length, 2);
  assert.equal(shed.length, 4);
  for (const r of shed) {
    assert.equal(JSON.parse(r.text).error.code, 'overloaded');
    assert.equal(r.headers.get('retry-after'), '1');
    // Refused at once, not after waiting for a slot (which would take the upstream's 300 ms).
    assert.ok(r.ms < 250, `shed in ${r.ms} ms`);
  }
  assert.equal(await p.metric('outrider_shed_total', { reason: 'breaker_concurrency' }), 4);
  // Refusals by the bulkhead are not failures of the backend.
  assert.equal(((await p.route('r'))['breaker'] as Record<string, { failures: number; requests: number }>)['u']?.failures, 0);
});

test('a reload that drops the route disposes its breaker and its gauge', async (t) => {
  const { up } = await switchable(200);
  t.after(() => up.close());
  const cfg = (breaker: string) => `${HEAD}
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
routes:
  - { name: keep, match: { path: /keep }, backends: [ { to: u } ], breaker: { minRequests: 5 } }
  - { name: drop, match: { path: /drop }, backends: [ { to: u } ]${breaker} }
`;
  const p = await startProxy(t, cfg(', breaker: { minRequests: 5 }'));
  const disposed = p.capture<BreakerDisposedEvent>(BREAKER_DISPOSED);
  assert.equal((await call(`${p.data}/drop`)).status, 200);
  await p.reload(cfg(', breaker: { minRequests: 5 }'));
  assert.deepEqual(disposed, [], 'an unchanged breaker survives the reload');
  await p.reload(cfg(''));
  assert.deepEqual(disposed, [{ route: 'drop', backend: 'u' }]);
  const text = await (await fetch(`${p.admin}/metrics`)).text();
  assert.doesNotMatch(text, /outrider_route_breaker_state\{route="drop"/);
  assert.match(text, /outrider_route_breaker_state\{route="keep",backend="u"\} 0/);
  assert.match(text, /outrider_breaker_state\{backend="u"\} 0/);
});

test("a breaker's timers never keep the process alive", async () => {
  // A real child process builds an open breaker and returns: it must exit on its own.
  const code = `
    import { Breaker } from ${JSON.stringify(new URL('../../../policies/breaker/breaker.ts', import.meta.url).pathname)};
    import { EventEmitter } from 'node:events';
    const b = new Breaker('r', 'u', { failureRate: 1, minRequests: 1, window: 60000, openFor: 60000, maxConcurrent: 10 }, new EventEmitter());
    const failing = async () => ({ status: 500, headers: [], body: null });
    await b.run({ signal: new AbortController().signal, bodyError: null }, failing);
    await new Promise((r) => setImmediate(r));
    if (b.status().state !== 'open') process.exit(3);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'inherit', 'inherit'] });
  const exit = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(-1); }, 5_000);
    child.once('exit', (c) => { clearTimeout(timer); resolve(c); });
  });
  assert.equal(exit, 0);
});

test('the failure that crosses the threshold opens the breaker before the next request is admitted', async (t) => {
  // A retry whose backoff is under 1 ms is not slept: it reaches the breaker in the same turn of
  // the event loop as the failure it follows. That failure must already have opened it.
  const breaker = new Breaker('r', 'u', { failureRate: 50, minRequests: 4, window: 10_000, openFor: 30_000, maxConcurrent: 10 }, new EventEmitter());
  t.after(() => breaker.dispose());
  const ctx = { signal: new AbortController().signal, bodyError: null } as unknown as RequestContext;
  const failing = (): Promise<Reply> => Promise.resolve({ status: 503, headers: [], body: null });
  let admitted = 0;
  const counted = (): Promise<Reply> => {
    admitted++;
    return failing();
  };
  for (let i = 0; i < 4; i++) await breaker.run(ctx, counted);
  // No await between the fourth failure and this request: no microtask has run for opossum.
  const next = breaker.run(ctx, counted);
  await assert.rejects(next, (e: OutriderError) => e.detail === 'breaker_open');
  assert.equal(admitted, 4);
});
