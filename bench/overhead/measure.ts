// One target, one round: load A (throughput and CPU per request), then load B (latency).
import { fileURLToPath } from 'node:url';
import type { PacedResult } from './client.ts';
import type { Options, TargetName } from './options.ts';
import { coreTimes, cpuSeconds } from './processes.ts';
import type { Processes } from './processes.ts';
import type { Bench, Target } from './targets.ts';
import type { LoadGenerator, ThroughputResult } from './throughput.ts';

const CLIENT = fileURLToPath(new URL('client.ts', import.meta.url));

export interface ThroughputSample extends ThroughputResult {
  /** CPU of the proxy process (and its children) per answered request; null for `direct`. */
  readonly cpuUsPerRequest: number | null;
  /** The proxy's CPU use during the run, in cores (1 = one CPU fully busy). */
  readonly cpuCores: number | null;
  /** CPU time other processes took on the proxy's CPU, in % of the run: noise from outside the bench. */
  readonly otherCpuPct: number | null;
  /** Time the hypervisor gave the proxy's CPU to another guest, in % of the run. */
  readonly stealPct: number | null;
}

export interface LatencySample extends PacedResult {
  /** At the paced rate, warm-up included: the cost of a request when the proxy is not saturated. */
  readonly cpuUsPerRequest: number | null;
}

export interface RoundSample {
  readonly round: number;
  readonly target: TargetName;
  readonly throughput: ThroughputSample;
  readonly latency: LatencySample;
}

export async function measureTarget(bench: Bench, gen: LoadGenerator, target: Target, opts: Options, round: number): Promise<RoundSample> {
  const throughput = await measureThroughput(bench, gen, target, opts.connections, opts.duration, opts.warmup);
  const latency = await measureLatency(bench, target, opts);
  return { round, target: target.name, throughput, latency };
}

/** A proxy (or the upstream) that died under load leaves no figures, only an error. */
function assertAlive(bench: Bench, target: Target): void {
  if (target.child !== null && !target.child.running) throw new Error(`${target.name} died under load: ${target.child.describeExit()}`);
  const up = bench.upstream.child;
  if (!up.running) throw new Error(`the upstream died under load: ${up.describeExit()}`);
}

export async function measureThroughput(bench: Bench, gen: LoadGenerator, target: Target, connections: number, duration: number, warmup: number): Promise<ThroughputSample> {
  const { processes, placement } = bench;
  if (warmup > 0) await gen.run(processes, target.url, connections, warmup, placement.loadCpu);
  const pid = target.child?.pid ?? null;
  const core = placement.proxyCpu;
  const before = { proxy: pid === null ? 0 : cpuSeconds(pid), core: core === null ? null : coreTimes(core), at: performance.now() };
  const r = await gen.run(processes, target.url, connections, duration, placement.loadCpu);
  assertAlive(bench, target);
  const cpu = pid === null ? null : cpuSeconds(pid) - before.proxy;
  const wall = (performance.now() - before.at) / 1000;
  let otherCpuPct: number | null = null;
  let stealPct: number | null = null;
  if (core !== null && before.core !== null) {
    const after = coreTimes(core);
    otherCpuPct = Math.max(0, ((after.userSystem - before.core.userSystem - (cpu ?? 0)) / wall) * 100);
    stealPct = ((after.steal - before.core.steal) / wall) * 100;
  }
  return {
    ...r,
    cpuUsPerRequest: cpu === null || r.requests === 0 ? null : (cpu * 1e6) / r.requests,
    cpuCores: cpu === null ? null : cpu / r.seconds,
    otherCpuPct,
    stealPct,
  };
}

async function measureLatency(bench: Bench, target: Target, opts: Options): Promise<LatencySample> {
  const pid = target.child?.pid ?? null;
  const cpu0 = pid === null ? 0 : cpuSeconds(pid);
  const r = await runClient<PacedResult>(bench.processes, bench.placement.loadCpu, [
    'paced', '--url', target.url, '--rate', String(opts.rate), '--duration', String(opts.duration), '--warmup', String(opts.warmup),
  ], opts.warmup + opts.duration);
  assertAlive(bench, target);
  const cpu = pid === null ? null : cpuSeconds(pid) - cpu0;
  const requests = opts.rate * (opts.warmup + opts.duration);
  return { ...r, cpuUsPerRequest: cpu === null ? null : (cpu * 1e6) / requests };
}

/** Runs client.ts (pinned with the load) and returns its JSON result. */
export async function runClient<T>(processes: Processes, cpu: number | null, args: readonly string[], expectedSeconds: number): Promise<T> {
  const { stdout } = await processes.run('client', process.execPath, [CLIENT, ...args], { cpu }, (expectedSeconds + 60) * 1000);
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;
}
