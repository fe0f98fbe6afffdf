// The load generator the chaos figures rest on: it keeps its rate whatever the answers do (open
// loop), refuses non-loopback targets, and marks a request that gets no answer in time as hung.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { INFER_BODY, INFER_HEADERS, startModelServer } from '../../chaos/fixtures/model-server.ts';
import type { ModelServer } from '../../chaos/fixtures/model-server.ts';
import { startInjector } from '../../chaos/injector/client.ts';
import type { Injector } from '../../chaos/injector/client.ts';
import { Load, startLoad } from '../../chaos/load.ts';

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

test('sends at the configured rate, on schedule, and checks each body is its own', async () => {
  const samples = await startLoad({ origin: up.origin, path: '/v2/models/m/infer', method: 'POST', body: INFER_BODY, headers: INFER_HEADERS, rate: 200, durationMs: 1_000, deadlineMs: 1_000 }).done();
  assert.equal(samples.length, 200);
  assert.ok(samples.every((s) => s.status === 200 && s.bodyOk === true && !s.hung));
  // Slot i is due at i × 5 ms: a late timer sends the missed slots at once rather than dropping them.
  const span = samples.at(-1)!.scheduledAt - samples[0]!.scheduledAt;
  assert.ok(Math.abs(span - 995) < 1, `schedule spans ${span} ms`);
});

test('the rate holds while every answer is stalled (open loop), and stalled requests are marked hung', async () => {
  await inj.set({ mode: 'stall' });
  const samples = await startLoad({ origin: inj.origin, path: '/v2/models/m/infer', method: 'POST', body: INFER_BODY, headers: INFER_HEADERS, rate: 50, durationMs: 400, deadlineMs: 200, hangSlackMs: 100 }).done();
  await inj.set({ mode: 'pass' });
  assert.equal(samples.length, 20, 'nothing waited for an answer before sending the next');
  for (const s of samples) {
    assert.equal(s.hung, true);
    assert.equal(s.code, 'hung');
    assert.ok(s.latencyMs >= 299 && s.latencyMs < 1_000, `abandoned after ${s.latencyMs} ms`);
  }
});

test('only loopback targets', () => {
  assert.throws(() => new Load({ origin: 'http://10.0.0.7:8000', path: '/', rate: 1, durationMs: 1, deadlineMs: 1 }), /loopback/);
});
