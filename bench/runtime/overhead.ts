// Serving overhead (issue 4): at one client on `mlp` (batch 1), p50 latency through Outrider
// (proxy + worker) minus the p50 of `session.run` in-process, measured in the same run. The
// worker's own origin (from /runtimes) splits the two hops, and a trivial keep-alive server
// (bench/overhead/upstream.ts) on the same CPU shows what one loopback HTTP exchange with this
// client costs at all. Paths are measured in interleaved blocks so drift hits all alike.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type * as hdr from 'hdr-histogram-js';
import { portLine, waitForLine } from '../overhead/processes.ts';
import { bar } from './bench.ts';
import type { BenchContext, ScenarioResult } from './bench.ts';
import { inProcess, timingAt } from './baseline.ts';
import { OneClient, histogram } from './load.ts';
import { REPO_ROOT, errorLines, inferPath, replicas, startOutrider, waitReady } from './outrider.ts';
import { inferBody } from './payload.ts';
import { fmt, formatTable } from './report.ts';

const MLP = join(REPO_ROOT, 'examples', 'models', 'mlp.onnx');
const UPSTREAM = join(REPO_ROOT, 'bench', 'overhead', 'upstream.ts');
const BLOCKS = 5;
const OVERHEAD_BAR_US = 500;

interface Path {
  readonly name: string;
  readonly what: string;
  readonly client: OneClient;
  readonly latency: hdr.Histogram;
  failed: number;
}

function summary(p: Path): { p50Us: number; p90Us: number; p99Us: number; count: number; failed: number } {
  return { p50Us: p.latency.getValueAtPercentile(50), p90Us: p.latency.getValueAtPercentile(90), p99Us: p.latency.getValueAtPercentile(99), count: p.latency.totalCount, failed: p.failed };
}

export async function overheadScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const t0 = performance.now();
  const { opts } = ctx;
  const dir = join(ctx.tmp, 'overhead');
  mkdirSync(dir, { recursive: true });
  const upstream = ctx.processes.start('trivial upstream', process.execPath, [UPSTREAM], { cpu: ctx.placement.proxyCpu, cwd: REPO_ROOT });
  const common = { model: MLP, replicas: 1, maxBatchSize: 32, maxQueue: 512, warmupIterations: 20 };
  // `mlp` waits for no one (maxQueueDelay 0): its latency is the serving path alone. `mlp-q2` is
  // examples/outrider.yaml's batching (maxQueueDelay 2ms): a lone request waits out the delay.
  const o = await startOutrider(ctx.processes, {
    label: 'overhead', dir, timeout: '5s',
    runtimes: [{ ...common, name: 'mlp', maxQueueDelay: '0ms' }, { ...common, name: 'mlp-q2', maxQueueDelay: '2ms' }],
  }, ctx.placement.proxyCpu);
  const paths: Path[] = [];
  try {
    const port = await waitForLine(upstream, portLine, 30_000);
    await waitReady(o, 120_000);
    const origin = (await replicas(o, 'mlp'))[0]?.origin;
    if (origin === undefined || origin === null) throw new Error('/runtimes gives no origin for mlp replica 0');
    // Outrider is idle and warm now: the in-process baseline runs on the same CPU as its worker.
    const base = await inProcess(ctx, { model: MLP, batches: [1], iterations: opts.quick ? 2_000 : 5_000, warmup: 500 });
    const session = timingAt(base, 1);
    const add = (name: string, what: string, url: string) => paths.push({ name, what, client: new OneClient(url), latency: histogram(), failed: 0 });
    add('trivial server', 'one loopback HTTP exchange with a node:http server answering a fixed body: the client+loopback floor', `http://127.0.0.1:${port}${inferPath('mlp')}`);
    add('worker direct', "the mlp replica's own origin from /runtimes: worker HTTP + queue + inference thread + session.run", `${origin}${inferPath('mlp')}`);
    add('outrider', 'the data port: proxy + worker (maxQueueDelay 0)', `${o.data}${inferPath('mlp')}`);
    add('outrider q2ms', 'the data port, examples/outrider.yaml batching (maxQueueDelay 2ms)', `${o.data}${inferPath('mlp-q2')}`);
    const body = inferBody(1);
    for (const p of paths) {
      await p.client.connect();
      // Unrecorded: the client's own JIT and the proxy's connection to the worker.
      for (let k = 0; k < 200; k++) await p.client.send(body);
    }
    for (let block = 0; block < BLOCKS; block++) {
      for (const p of paths) {
        for (let k = 0; k < opts.samples; k++) {
          const a = await p.client.send(body);
          if (a.status === 200) p.latency.recordValue(Math.max(1, Math.round(a.us)));
          else p.failed++;
        }
      }
    }
    const logErrors = errorLines(o);
    const [floor, direct, outrider, q2] = paths.map(summary) as [ReturnType<typeof summary>, ReturnType<typeof summary>, ReturnType<typeof summary>, ReturnType<typeof summary>];
    const overhead = outrider.p50Us - session.p50Us;
    const proxyHop = outrider.p50Us - direct.p50Us;
    const workerHop = direct.p50Us - session.p50Us;
    const rows = paths.map((p) => {
      const s = summary(p);
      return [p.name, fmt(s.p50Us), fmt(s.p90Us), fmt(s.p99Us), `+${fmt(s.p50Us - session.p50Us)}`, String(s.count), String(s.failed)];
    });
    rows.unshift(['session.run in-process', fmt(session.p50Us, 1), fmt(session.p90Us, 1), '-', '0', String(session.iterations), '0']);
    const lines = [
      ...formatTable(['path (1 client, batch 1)', 'p50 us', 'p90 us', 'p99 us', 'p50 - session.run', 'requests', 'failed'], rows),
      '',
      `serving overhead (bar): outrider p50 - session.run p50 = ${fmt(overhead)} us = proxy hop ${fmt(proxyHop)} us (outrider - worker direct) + worker hop ${fmt(workerHop)} us (worker direct - session.run);`,
      `  the client+loopback floor (trivial server) is ${fmt(floor.p50Us)} us of it, counted against Outrider; with maxQueueDelay 2ms a lone request waits the delay out: +${fmt(q2.p50Us - session.p50Us)} us.`,
      `${BLOCKS} interleaved blocks of ${opts.samples} sequential requests per path after 200 unrecorded; one keep-alive connection per path; session.run: ${session.iterations} calls after ${500}, ` +
        `same CPU as the worker, model load ${fmt(base.loadMs, 0)} ms, its first call ${fmt(base.firstCallUs, 0)} us.`,
      ...paths.map((p) => `  ${p.name}: ${p.what}`),
    ];
    if (logErrors.length > 0) lines.push(`WARNING: outrider logged ${logErrors.length} error line(s); the first: ${logErrors[0]!.slice(0, 300)}`);
    const failed = paths.reduce((n, p) => n + p.failed, 0);
    const bars = [bar('p50 through Outrider - session.run p50 (1 client, mlp)', overhead, 'us', { atMost: OVERHEAD_BAR_US })];
    if (failed > 0) bars.push(bar('failed requests at one client', failed, 'requests', { atMost: 0 }));
    return {
      scenario: 'overhead',
      seconds: (performance.now() - t0) / 1000,
      lines,
      bars,
      figures: {
        sessionRun: base, overheadUs: overhead, proxyHopUs: proxyHop, workerHopUs: workerHop,
        paths: Object.fromEntries(paths.map((p) => [p.name, summary(p)])), blocks: BLOCKS, samplesPerBlock: opts.samples,
      },
    };
  } finally {
    await Promise.all(paths.map((p) => p.client.close()));
    await ctx.processes.stop(o.child, 20_000);
    await ctx.processes.stop(upstream, 2_000);
  }
}
