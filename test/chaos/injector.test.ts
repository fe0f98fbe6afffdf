// The fault injector as a process: its control API refuses bad faults with a reason, and each
// fault reaches a plain HTTP client the way it is described (chaos/injector/faults.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { startModelServer, INFER_BODY, INFER_HEADERS } from '../../chaos/fixtures/model-server.ts';
import type { ModelServer } from '../../chaos/fixtures/model-server.ts';
import { startInjector } from '../../chaos/injector/client.ts';
import type { Injector } from '../../chaos/injector/client.ts';

let up: ModelServer;
let inj: Injector;

before(async () => {
  up = await startModelServer({ inferMs: 1 });
  inj = await startInjector(up.origin);
});

after(async () => {
  await inj?.stop();
  await up?.stop();
});

const infer = (dispatcher?: Agent) => request(`${inj.origin}/v2/models/m/infer`, { method: 'POST', body: INFER_BODY, headers: { ...INFER_HEADERS, 'x-request-id': 'r1' }, ...(dispatcher === undefined ? {} : { dispatcher }) });

test('bad faults are refused with 400 and the reason; the current fault stays', async () => {
  await inj.set({ mode: 'pass' });
  for (const [body, reason] of [
    ['{', /JSON/],
    [JSON.stringify({ mode: 'explode' }), /mode must be one of/],
    [JSON.stringify({ mode: 'status', status: 99 }), /HTTP status/],
    [JSON.stringify({ mode: 'latency', ms: 5, probability: 2 }), /probability/],
    [JSON.stringify({ mode: 'reset', at: 'somewhere' }), /before-head, mid-body/],
    [JSON.stringify({ mode: 'stall', ms: 5 }), /unknown key/],
  ] as const) {
    const r = await request(`${inj.control}/fault`, { method: 'PUT', body });
    assert.equal(r.statusCode, 400, body);
    assert.match((await r.body.json() as { error: string }).error, reason);
  }
  const current = await (await request(`${inj.control}/fault`)).body.json() as { mode: string };
  assert.equal(current.mode, 'pass');
});

test('pass forwards untouched; status answers the injected status, flagged', async () => {
  await inj.set({ mode: 'pass' });
  const ok = await infer();
  assert.equal(ok.statusCode, 200);
  assert.equal((await ok.body.json() as { id: string }).id, 'r1');
  await inj.set({ mode: 'status', status: 503 });
  const bad = await infer();
  assert.equal(bad.statusCode, 503);
  assert.equal(bad.headers['x-chaos-fault'], 'status-503');
  await bad.body.dump();
  const stats = await inj.stats();
  assert.ok((stats.faulted['status-503'] ?? 0) >= 1);
});

test('latency delays the answer by at least ms', async () => {
  await inj.set({ mode: 'latency', ms: 120, jitterMs: 30 });
  const t0 = performance.now();
  const r = await infer();
  await r.body.dump();
  assert.ok(performance.now() - t0 >= 119, `answered after ${performance.now() - t0} ms`);
});

test('head faults fail the exchange; mid-body reset cuts a response whose head arrived', async () => {
  for (const fault of [{ mode: 'drop' }, { mode: 'reset', at: 'before-head' }, { mode: 'malformed', kind: 'status-line' }] as const) {
    await inj.set(fault);
    await assert.rejects(async () => { const r = await infer(); await r.body.text(); }, (e: unknown) => e instanceof Error, JSON.stringify(fault));
  }
  await inj.set({ mode: 'reset', at: 'mid-body' });
  const r = await infer();
  assert.equal(r.statusCode, 200);
  assert.equal(r.headers['x-chaos-fault'], 'reset-mid-body');
  await assert.rejects(r.body.text());
});

test('stall holds the request until released; per-connection draws stick to the connection', async () => {
  await inj.set({ mode: 'stall' });
  const stalled = infer().then(async (r) => { await r.body.dump(); return 'answered'; }, () => 'closed');
  await new Promise((r) => setTimeout(r, 150));
  assert.equal((await inj.stats()).stalled, 1);
  assert.equal(await inj.release(), 1);
  assert.equal(await stalled, 'closed');

  // Half the connections draw the fault; every request on one connection gets the same draw.
  await inj.set({ mode: 'status', status: 500, probability: 0.5, per: 'connection' });
  const verdicts = new Set<string>();
  for (let c = 0; c < 12; c++) {
    const agent = new Agent({ connections: 1 });
    const seen = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const r = await infer(agent);
      seen.add(r.statusCode);
      await r.body.dump();
    }
    await agent.close();
    assert.equal(seen.size, 1, 'one draw per connection');
    verdicts.add(String([...seen][0]));
  }
  assert.deepEqual([...verdicts].sort(), ['200', '500'], 'over 12 connections both draws occur (p = 1 - 2·0.5^12)');
  await inj.set({ mode: 'pass' });
});
