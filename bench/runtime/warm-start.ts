// Warm start (issue 4): on a fresh Outrider, as soon as /readyz turns green, the first request
// at each batch size 1..maxBatchSize through the data port, against the warm p50 at that size
// measured right after on the same instance. Repeated on fresh instances; the bar takes the
// median of each instance's worst ratio.
//
// Two controls, so that a miss can be placed: the same first pass sent straight to the
// worker's origin (other fresh instances, the proxy left out), and a second pass over every
// size right after the first: if second requests miss as often as first ones, the misses are
// the machine's noise, not a cold path.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bar } from './bench.ts';
import type { BenchContext, ScenarioResult } from './bench.ts';
import { OneClient, histogram } from './load.ts';
import type { Answer } from './load.ts';
import { REPO_ROOT, errorLines, inferPath, logRecords, replicas, startOutrider, waitReady } from './outrider.ts';
import type { OutriderInstance } from './outrider.ts';
import { inferBody } from './payload.ts';
import { fmt, formatTable, median, ratio } from './report.ts';

const MLP = join(REPO_ROOT, 'examples', 'models', 'mlp.onnx');
const MAX_BATCH = 32;
const WITHIN = 2;
/** Idle time before each request of the paused control (bench/runtime/idle-wake.ts: a warm trivial server pays ~9x after 100 ms). */
const PAUSE_MS = 100;

type Via = 'outrider' | 'worker direct';

interface SizeFigures {
  readonly size: number;
  readonly firstUs: number;
  readonly secondUs: number;
  readonly warmP50Us: number;
  readonly ratio: number;         // first / warm p50
  readonly secondRatio: number;   // second / warm p50: the noise reference
  /** The same size on the warm instance, sent after a PAUSE_MS pause: the machine's wake-up floor. */
  readonly pausedUs: number;
  readonly pausedRatio: number;
}

interface Instance {
  readonly via: Via;
  readonly instance: number;
  /** /readyz green, from the spawn of outrider */
  readonly readyAfterMs: number;
  readonly warmupSeconds: number | null;
  readonly sizes: readonly SizeFigures[];
  readonly worst: SizeFigures;
  readonly over: number;
  readonly secondOver: number;
  readonly pausedOver: number;
  readonly pausedWorst: number;
}

function ok(a: Answer, what: string): number {
  if (a.status !== 200) throw new Error(`${what} answered ${a.status} ${a.error ?? ''}`);
  return a.us;
}

async function oneInstance(ctx: BenchContext, via: Via, instance: number, bodies: readonly Buffer[]): Promise<Instance> {
  const dir = join(ctx.tmp, `warm-start-${via.replace(' ', '-')}-${instance}`);
  mkdirSync(dir, { recursive: true });
  // maxQueueDelay 0: a request below maxBatchSize would otherwise wait a fixed 2 ms first and
  // hide a cold path under it.
  const o = await startOutrider(ctx.processes, {
    label: 'warm-start', dir, timeout: '5s',
    runtimes: [{ name: 'mlp', model: MLP, replicas: 1, maxBatchSize: MAX_BATCH, maxQueueDelay: '0ms', warmupIterations: 20 }],
  }, ctx.placement.proxyCpu);
  let client: OneClient | null = null;
  try {
    const readyAt = await waitReady(o, 120_000, 2);
    let url = `${o.data}${inferPath('mlp')}`;
    if (via === 'worker direct') {
      const origin = (await replicas(o, 'mlp'))[0]?.origin;
      if (origin === undefined || origin === null) throw new Error('/runtimes gives no origin for mlp replica 0');
      url = `${origin}${inferPath('mlp')}`;
    }
    client = new OneClient(url);
    await client.connect();
    /** One request at each size 1..MAX_BATCH in order, each after `pauseMs` idle (0: back to back). */
    const pass = async (what: string, pauseMs = 0): Promise<number[]> => {
      const us: number[] = [];
      for (let size = 1; size <= MAX_BATCH; size++) {
        if (pauseMs > 0) await sleep(pauseMs);
        us.push(ok(await client!.send(bodies[size - 1]!), `${what} request at batch size ${size}`));
      }
      return us;
    };
    const first = await pass('first');
    const second = await pass('second');
    const rounds = ctx.opts.quick ? 15 : 30;
    const warm = Array.from({ length: MAX_BATCH }, () => histogram());
    for (let round = 0; round < rounds; round++) {
      for (let size = 1; size <= MAX_BATCH; size++) warm[size - 1]!.recordValue(Math.max(1, Math.round(ok(await client.send(bodies[size - 1]!), `warm request at batch size ${size}`))));
    }
    // The paused control: every size once more on the now warm instance, each after an idle
    // pause, as the first request after readiness follows the instance's idle moments.
    const paused = await pass('paused', PAUSE_MS);
    const sizes = first.map((us, k) => {
      const warmP50Us = warm[k]!.getValueAtPercentile(50);
      return { size: k + 1, firstUs: us, secondUs: second[k]!, warmP50Us, ratio: us / warmP50Us, secondRatio: second[k]! / warmP50Us, pausedUs: paused[k]!, pausedRatio: paused[k]! / warmP50Us };
    });
    const worst = sizes.reduce((w, s) => (s.ratio > w.ratio ? s : w));
    const over = sizes.filter((s) => s.ratio > WITHIN).length;
    const secondOver = sizes.filter((s) => s.secondRatio > WITHIN).length;
    const pausedOver = sizes.filter((s) => s.pausedRatio > WITHIN).length;
    const pausedWorst = Math.max(...sizes.map((s) => s.pausedRatio));
    const warmupSeconds = (await replicas(o, 'mlp'))[0]?.warmupSeconds ?? null;
    const errors = errorLines(o);
    if (errors.length > 0) throw new Error(`outrider logged errors: ${errors[0]!.slice(0, 300)}`);
    const readyAfterMs = readyAt - o.child.startedAt;
    // Where the first requests' time went: the proxy's own account of them (access log:
    // arrival to end, and its upstream attempt), against what the client saw.
    const own = via === 'outrider' ? firstAccessTimes(o, FIRST_SHOWN) : [];
    ctx.say(`  ${via} instance ${instance}: ready ${fmt(readyAfterMs)} ms after spawn; worst first/warm ${ratio(worst.ratio)} at batch ${worst.size} ` +
      `(${fmt(worst.firstUs)} vs ${fmt(worst.warmP50Us)} us), ${over} of ${MAX_BATCH} sizes over ${WITHIN}x (second pass: ${secondOver}; warm after ${PAUSE_MS} ms pauses: ${pausedOver}, worst ${ratio(pausedWorst)}); batch 1: ${ratio(sizes[0]!.ratio)}`);
    if (own.length > 0) {
      ctx.say(`    first ${own.length} requests: client ${first.slice(0, own.length).map((u) => fmt(u)).join(' / ')} us; outrider's access log: ` +
        own.map((a) => `${fmt(a.durationMs * 1000)} (upstream ${fmt(a.upstreamMs * 1000)})`).join(' / ') + ' us');
    }
    return { via, instance, readyAfterMs, warmupSeconds, sizes, worst, over, secondOver, pausedOver, pausedWorst };
  } finally {
    await client?.close();
    await ctx.processes.stop(o.child, 20_000);
  }
}

const FIRST_SHOWN = 3;

/** durationMs and upstreamMs of the first `n` inference requests in an Outrider's access log. */
function firstAccessTimes(o: OutriderInstance, n: number): { durationMs: number; upstreamMs: number }[] {
  return logRecords(o, '"msg":"request"').filter((e) => String(e['path']).endsWith('/infer')).slice(0, n)
    .map((e) => ({ durationMs: Number(e['durationMs']), upstreamMs: Number(e['upstreamMs'] ?? 0) }));
}

function perSize(instances: readonly Instance[]): SizeFigures[] {
  return Array.from({ length: MAX_BATCH }, (_, k) => ({
    size: k + 1,
    firstUs: median(instances.map((i) => i.sizes[k]!.firstUs)),
    secondUs: median(instances.map((i) => i.sizes[k]!.secondUs)),
    warmP50Us: median(instances.map((i) => i.sizes[k]!.warmP50Us)),
    ratio: median(instances.map((i) => i.sizes[k]!.ratio)),
    secondRatio: median(instances.map((i) => i.sizes[k]!.secondRatio)),
    pausedUs: median(instances.map((i) => i.sizes[k]!.pausedUs)),
    pausedRatio: median(instances.map((i) => i.sizes[k]!.pausedRatio)),
  }));
}

export async function warmStartScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const t0 = performance.now();
  const bodies = Array.from({ length: MAX_BATCH }, (_, k) => inferBody(k + 1));
  const instances: Instance[] = [];
  // Alternate the two paths so that drift over the run hits both alike.
  for (let i = 1; i <= ctx.opts.repeats; i++) {
    for (const via of ['outrider', 'worker direct'] as const) instances.push(await oneInstance(ctx, via, i, bodies));
  }
  const of = (via: Via) => instances.filter((i) => i.via === via);
  const medianWorst = (via: Via) => median(of(via).map((i) => i.worst.ratio));
  const medianPausedWorst = (via: Via) => median(of(via).map((i) => i.pausedWorst));
  const sizes = { outrider: perSize(of('outrider')), direct: perSize(of('worker direct')) };
  const shown = sizes.outrider.filter((s, k) => s.size <= 4 || s.size % 8 === 0 || s.ratio > WITHIN || sizes.direct[k]!.ratio > WITHIN);
  const lines = [
    ...formatTable(['path', 'instance', 'ready after spawn ms', 'warmup s', 'worst first/warm', 'at batch', 'first us', 'warm p50 us', `sizes over ${WITHIN}x`, 'same, 2nd pass', 'batch 1 first/warm'],
      instances.map((i) => [i.via, String(i.instance), fmt(i.readyAfterMs), fmt(i.warmupSeconds, 2), ratio(i.worst.ratio), String(i.worst.size), fmt(i.worst.firstUs),
        fmt(i.worst.warmP50Us), `${i.over} of ${MAX_BATCH}`, `${i.secondOver} of ${MAX_BATCH}`, ratio(i.sizes[0]!.ratio)])),
    '',
    ...formatTable(['batch size', 'outrider first us', 'warm p50 us', 'first/warm', '2nd/warm', 'worker first us', 'warm p50 us', 'first/warm', '2nd/warm'],
      shown.map((s) => {
        const d = sizes.direct[s.size - 1]!;
        return [String(s.size), fmt(s.firstUs), fmt(s.warmP50Us), ratio(s.ratio), ratio(s.secondRatio), fmt(d.firstUs), fmt(d.warmP50Us), ratio(d.ratio), ratio(d.secondRatio)];
      })),
    `(per size: medians over the instances of each path; shown: sizes 1-4, every 8th, and any over ${WITHIN}x)`,
    `sizes whose median first/warm is over ${WITHIN}x: outrider ${sizes.outrider.filter((s) => s.ratio > WITHIN).map((s) => s.size).join(', ') || 'none'}; ` +
      `worker direct ${sizes.direct.filter((s) => s.ratio > WITHIN).map((s) => s.size).join(', ') || 'none'}`,
    `worst first/warm, median over instances: outrider ${ratio(medianWorst('outrider'))} (the bar), worker direct ${ratio(medianWorst('worker direct'))}`,
    `control, the same instances warm, each size sent after a ${PAUSE_MS} ms pause: worst paused/warm, median over instances: outrider ${ratio(medianPausedWorst('outrider'))}, ` +
      `worker direct ${ratio(medianPausedWorst('worker direct'))} (nothing is cold here: what this shows is the machine waking idle processes)`,
    '',
    `each instance: a fresh outrider, mlp with 1 replica, maxBatchSize ${MAX_BATCH}, maxQueueDelay 0ms, warmup iterations 20; /readyz polled every 2 ms; then on one keep-alive`,
    `connection (opened first by a GET that matches no route): the first request at each size 1..${MAX_BATCH} in order, a second pass the same way, then ${ctx.opts.quick ? 15 : 30} rounds`,
    `over every size for the warm p50, then every size once more after a ${PAUSE_MS} ms pause each (the paused control). ` + '"outrider": through the data port (the bar); "worker direct": to the replica\'s origin from /runtimes, on other fresh instances.',
    'Through outrider, the first request at batch 1 is also the first client request the proxy forwards (its own warmup left its connections to the worker open).',
  ];
  return {
    scenario: 'warm-start',
    seconds: (performance.now() - t0) / 1000,
    lines,
    bars: [bar('first request / warm p50 at the worst size (median over instances)', medianWorst('outrider'), 'x', { atMost: WITHIN })],
    figures: {
      medianWorst: { outrider: medianWorst('outrider'), workerDirect: medianWorst('worker direct') },
      medianPausedWorst: { outrider: medianPausedWorst('outrider'), workerDirect: medianPausedWorst('worker direct') },
      pauseMs: PAUSE_MS, instances, perSize: sizes,
    },
  };
}
