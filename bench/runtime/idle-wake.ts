// The machine's own "first request after a pause" cost, as a floor for the warm-start bar.
//
// The warm-start bar compares one request sent right after /readyz with the p50 of requests
// sent back to back. On a machine whose processes pay to wake from idle, that single request
// is slow for reasons no warmup can remove. This measures it with no Outrider at all: a
// trivial Node HTTP server (bench/cache/upstream.ts) in a child process, one keep-alive
// connection, a fully warm client and server; after each pause, the first and second request.
//
//   node bench/runtime/idle-wake.ts [--trials N]
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { benchArgs, countArg } from '../args.ts';
import { REPO_ROOT } from '../overhead/outrider.ts';
import { Processes, portLine, waitForLine } from '../overhead/processes.ts';
import { median } from './report.ts';

const USAGE = 'usage: node bench/runtime/idle-wake.ts [--trials N]   (pauses per length, default 10)';
const args = benchArgs({ trials: { type: 'string' } }, USAGE);
const TRIALS = countArg('trials', args.trials, 10, 1, USAGE);
const PAUSES_MS = [0, 1, 10, 100, 300, 1000];
const BODY = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 64], datatype: 'FP32', data: Array.from({ length: 64 }, (_, i) => Math.sin(i)) }] });

const processes = new Processes();
// An interrupted run takes its server with it.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void processes.stopAll().finally(() => process.exit(130)));
process.once('exit', () => processes.killAllNow());
const upstream = processes.start('upstream', process.execPath, [join(REPO_ROOT, 'bench', 'cache', 'upstream.ts')], { cpu: null });
const port = await waitForLine(upstream, portLine, 10_000);
const client = new Client(`http://127.0.0.1:${port}`);
const one = async (): Promise<number> => {
  const t = performance.now();
  const r = await client.request({ path: '/v2/models/bench/infer', method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
  await r.body.dump();
  if (r.statusCode !== 200) throw new Error(`upstream answered ${r.statusCode}`);
  return (performance.now() - t) * 1000;
};
try {
  for (let i = 0; i < 2000; i++) await one();
  const steady: number[] = [];
  for (let i = 0; i < 500; i++) steady.push(await one());
  const p50 = median(steady);
  process.stdout.write(`trivial Node server, warm, back to back: p50 ${p50.toFixed(0)} us\n`);
  for (const pause of PAUSES_MS) {
    const first: number[] = [], second: number[] = [];
    for (let k = 0; k < TRIALS; k++) {
      if (pause > 0) await sleep(pause);
      first.push(await one());
      second.push(await one());
    }
    process.stdout.write(`pause ${String(pause).padStart(4)} ms: first ${median(first).toFixed(0).padStart(5)} us (${(median(first) / p50).toFixed(2)}x p50), ` +
      `second ${median(second).toFixed(0).padStart(5)} us (${(median(second) / p50).toFixed(2)}x)   medians of ${TRIALS}\n`);
  }
} finally {
  await client.close();
  await processes.stopAll();
}
