// The proxy's own warmup through the real outrider process (proxy/warmup.ts): before /readyz
// turns green, hundreds of requests reach the ONNX worker through the data listener from a
// child process, and none of them shows in the metrics or the access log; the child is gone
// once the proxy is ready.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, startOutrider, waitReady } from '../helpers/outrider.ts';
import { metricValue } from '../helpers/inprocess.ts';

const MODEL = path.join(ROOT, 'examples', 'models', 'mlp.onnx');

/** The command lines of a process's children (Linux /proc). */
function childCommands(pid: number): string[] {
  const out: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

test('proxy warmup: hundreds of real inferences from a child before ready, none in metrics or the access log, the child gone after', async (t) => {
  const o = await startOutrider(`
version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
runtimes:
  - { name: mlp, kind: onnx, model: ${MODEL}, replicas: 1, warmup: { iterations: 2 } }
routes:
  - { name: classify, match: { path: /v2/models/mlp/, prefix: true }, timeout: 5s, backends: [ { to: mlp } ] }
`);
  t.after(() => o.stop());
  // While it warms, the warmup client is one of Outrider's children.
  const warming = childCommands(o.proc.pid!);
  await waitReady(o.admin);
  const warmed = await o.waitForLog((l) => l['msg'] === 'proxy forward path warmed');
  const statuses = warmed['statuses'] as Record<string, number>;
  assert.ok((statuses['200'] ?? 0) >= 500, `valid inferences sent: ${JSON.stringify(statuses)}`);
  assert.equal(statuses['400'], 32, 'the probe the worker refuses in validation');
  assert.ok(warming.some((c) => c.includes('warm-client')), `the warmup client ran as a child: ${warming.join(' | ')}`);
  assert.ok(!childCommands(o.proc.pid!).some((c) => c.includes('warm-client')), 'no warmup client left once ready');

  const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: new Array(64).fill(0.25) }] });
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${o.data}/v2/models/mlp/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200);
    await r.text();
  }
  const metrics = await (await fetch(`${o.admin}/metrics`)).text();
  assert.equal(metricValue(metrics, 'outrider_requests_total', { route: 'classify', backend: 'mlp', code: '200' }), 3);
  assert.ok(!metrics.includes('route="warmup"'), 'no series for the warmup route');
  assert.equal(metricValue(metrics, 'outrider_upstream_duration_seconds_count', { backend: 'mlp' }), 3, 'upstream attempts: the three client requests only');
  assert.equal(metricValue(metrics, 'outrider_inference_duration_seconds_count', { runtime: 'mlp' }), 3, 'the worker counts the client requests\' batches only, not the warmup\'s');
  assert.equal(metricValue(metrics, 'outrider_batch_size_count', { runtime: 'mlp' }), 3);

  // Once ready, the warmup's marker is nobody's: a request naming a runtime the path does not route to gets no_route.
  const forged = await fetch(`${o.data}/v2/models/nothing/infer`, { method: 'POST', body, headers: { 'x-outrider-warmup': 'x'.repeat(32), 'x-outrider-warmup-backend': 'mlp' } });
  assert.equal(forged.status, 404);
  await forged.text();
  const lines = await (async () => {
    for (let k = 0; k < 50; k++) {
      const got = o.logs.filter((l) => l['msg'] === 'request' || l['durationMs'] !== undefined);
      if (got.length >= 3) return got;
      await new Promise((r) => setTimeout(r, 50));
    }
    return o.logs.filter((l) => l['durationMs'] !== undefined);
  })();
  assert.deepEqual(lines.map((l) => l['route']).slice(0, 3), ['classify', 'classify', 'classify'], 'access lines for the client requests only');
});
