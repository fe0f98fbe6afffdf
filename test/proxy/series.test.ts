// The per-request series (telemetry/series.ts) must scrape exactly as prom-client's own Counter
// and Histogram do for the same updates, alone and merged with a worker's metrics, so dashboards,
// alert rules and the tests that read /metrics see one format whichever kept the numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from '../../proxy/telemetry/series.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVED = [0.0004, 0.001, 0.002, 0.05, 0.5, 3, Number.NaN, 0.01];

function twins(): { fast: Registry; prom: Registry; fc: FastCounter; fh: FastHistogram; pc: Counter<'route' | 'code'>; ph: Histogram<'route' | 'backend'> } {
  const fast = new Registry();
  const prom = new Registry();
  const c = { name: 'x_requests_total', help: 'Requests, by route and code.', labelNames: ['route', 'code'] as const };
  const h = { name: 'x_duration_seconds', help: 'Duration.', labelNames: ['route', 'backend'] as const, buckets: BUCKETS };
  return {
    fast, prom,
    fc: new FastCounter({ ...c, registers: [fast] }), fh: new FastHistogram({ ...h, registers: [fast] }),
    pc: new Counter({ ...c, registers: [prom] }), ph: new Histogram({ ...h, registers: [prom] }),
  };
}

test('counters and histograms print what prom-client prints for the same updates', async () => {
  const t = twins();
  for (const [route, code, n] of [['a', '200', 3], ['b', '503', 1], ['a', '404', 2]] as const) {
    const child = t.fc.labels(route, code);
    for (let i = 0; i < n; i++) {
      child.value++;
      t.pc.labels(route, code).inc();
    }
  }
  for (const route of ['a', 'b']) {
    const child = t.fh.labels(route, 'm');
    for (const v of OBSERVED) {
      child.observe(v);
      // prom-client refuses NaN; ours skips it (a duration is never NaN on purpose).
      if (Number.isFinite(v)) t.ph.labels(route, 'm').observe(v);
    }
  }
  assert.equal(await t.fast.metrics(), await t.prom.metrics());
});

test('merged with a worker registry, the series still sum per label set', async () => {
  const t = twins();
  t.fc.labels('a', '200').value += 2;
  t.pc.labels('a', '200').inc(2);
  t.fh.labels('a', 'm').observe(0.002);
  t.fh.labels('b', 'm').observe(0.2);
  t.ph.labels('a', 'm').observe(0.002);
  t.ph.labels('b', 'm').observe(0.2);
  const worker = new Registry();
  new Counter({ name: 'x_requests_total', help: 'Requests, by route and code.', labelNames: ['route', 'code'], registers: [worker] }).labels('a', '200').inc(5);
  const w = await worker.getMetricsAsJSON();
  const fast = await AggregatorRegistry.aggregate([await t.fast.getMetricsAsJSON(), w]).metrics();
  assert.match(fast, /^x_requests_total\{route="a",code="200"\} 7$/m);
  // Two routes' buckets stay apart (the aggregator keys values by all their labels).
  assert.match(fast, /^x_duration_seconds_bucket\{le="0.01",route="a",backend="m"\} 1$/m);
  assert.match(fast, /^x_duration_seconds_bucket\{le="0.01",route="b",backend="m"\} 0$/m);
  assert.match(fast, /^x_duration_seconds_count\{route="b",backend="m"\} 1$/m);
});

test('reset zeroes every series and a wrong label count is refused', async () => {
  const t = twins();
  t.fc.labels('a', '200').value++;
  t.fh.labels('a', 'm').observe(0.5);
  t.fast.resetMetrics();
  const text = await t.fast.metrics();
  assert.match(text, /^x_requests_total\{route="a",code="200"\} 0$/m);
  assert.match(text, /^x_duration_seconds_count\{route="a",backend="m"\} 0$/m);
  assert.throws(() => t.fc.labels('a'), /expected 2 label values, got 1/);
});

test('pair(a, b) is the child labels(a, b) gives, counted once in the scrape', async () => {
  const { fast, fc } = twins();
  const child = fc.pair('r', 'hit');
  assert.equal(child, fc.labels('r', 'hit'));
  assert.equal(fc.pair('r', 'hit'), child);
  assert.notEqual(fc.pair('r', 'miss'), child);
  fc.pair('r', 'hit').value += 2;
  fc.labels('r', 'hit').value++;
  assert.match(await fast.metrics(), /^x_requests_total\{route="r",code="hit"\} 3$/m);
});
