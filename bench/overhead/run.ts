// `npm run bench`: Outrider's overhead against a direct connection, nginx, and two bare Node
// forwarders, measured in one run with interleaved rounds (see bench/README.md).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMachine, loadAverage, machineFacts } from './machine.ts';
import { measureTarget, measureThroughput } from './measure.ts';
import type { RoundSample } from './measure.ts';
import { MEMORY_WARMUP_REQUESTS, memoryPhase } from './memory.ts';
import type { MemoryResult } from './memory.ts';
import { USAGE, UsageError, parseOptions } from './options.ts';
import type { Options } from './options.ts';
import { REPO_ROOT, countLogLines, requestsCounted } from './outrider.ts';
import { Processes, choosePlacement } from './processes.ts';
import { readProfile, summarizeProfile } from './profile-summary.ts';
import { formatProgress, formatReport, summarize } from './report.ts';
import type { BenchResult, OutriderHealth, ProfileResult } from './report.ts';
import { nginxAvailable, startTarget, startUpstream } from './targets.ts';
import type { Bench, Target } from './targets.ts';
import { loadGenerator } from './throughput.ts';
import type { LoadGenerator } from './throughput.ts';

const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function startTargets(b: Bench, opts: Options): Promise<Target[]> {
  const targets: Target[] = [];
  for (const name of opts.only) {
    if (name === 'nginx' && !nginxAvailable()) continue;
    try {
      targets.push(await startTarget(name, b));
    } catch (e) {
      throw new Error(`could not start target ${name}: ${(e as Error).message}`, { cause: e });
    }
  }
  say(`started: ${targets.map((t) => `${t.name} ${t.url}`).join(', ')}`);
  return targets;
}

/** Every target once per round, in the same order: drift over time hits all targets alike. */
async function runRounds(b: Bench, gen: LoadGenerator, targets: readonly Target[], opts: Options): Promise<RoundSample[]> {
  const samples: RoundSample[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const t of targets) {
      const s = await measureTarget(b, gen, t, opts, round);
      samples.push(s);
      say(formatProgress(s, opts.rounds));
    }
  }
  return samples;
}

/**
 * Did the Outrider under test really log and count every request (the bar: access log and metrics
 * on)? `stop` runs between reading /metrics and reading the log, which is complete only on exit.
 */
async function outriderHealth(t: Target, samples: readonly RoundSample[], stop: () => Promise<void>): Promise<OutriderHealth | null> {
  if (t.admin === null || t.log === null) {
    await stop();
    return null;
  }
  const requestsTotalMetric = await requestsCounted(t.admin);
  await stop();
  const measuredRequests = samples.filter((s) => s.target === 'outrider').reduce((n, s) => n + s.throughput.requests + s.latency.completed, 0);
  return { measuredRequests, requestsTotalMetric, log: await countLogLines(t.log) };
}

async function withTarget<T>(b: Bench, label: string, cpuProfileDir: string | undefined, work: (t: Target) => Promise<T>): Promise<T> {
  const t = await startTarget('outrider', b, cpuProfileDir === undefined ? { label } : { label, cpuProfileDir });
  try {
    return await work(t);
  } finally {
    // A profiled Outrider writes its .cpuprofile on exit: give it time to drain and write.
    if (t.child !== null) await b.processes.stop(t.child, 30_000);
  }
}

/** A fresh Outrider under --cpu-prof; only the measured load A run (not start-up, not warm-up) is summarised. */
async function profilePhase(b: Bench, gen: LoadGenerator, opts: Options, stamp: string): Promise<ProfileResult> {
  const dir = join(RESULTS_DIR, `outrider-${stamp}-cpuprofile`);
  mkdirSync(dir, { recursive: true });
  const { window, throughput } = await withTarget(b, 'profile', dir, async (t) => {
    const origin = t.child?.startedAt ?? performance.now();
    if (opts.warmup > 0) await gen.run(b.processes, t.url, opts.connections, opts.warmup, b.placement.loadCpu);
    const fromMs = performance.now() - origin;
    const sample = await measureThroughput(b, gen, t, opts.connections, opts.duration, 0);
    return { window: { fromMs, toMs: performance.now() - origin }, throughput: sample };
  });
  const name = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (name === undefined) throw new Error(`outrider wrote no .cpuprofile in ${dir}`);
  const file = join(dir, name);
  return { file, window, throughput, summary: summarizeProfile(readProfile(file), 25, window) };
}

async function bench(opts: Options, processes: Processes, tmp: string): Promise<void> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const placement = choosePlacement();
  const gen = loadGenerator(opts.loadgen, tmp);
  const machine = machineFacts(placement, gen);
  for (const line of describeMachine(machine)) say(line);
  say(`load A: ${gen.version}, ${opts.connections} connections, closed loop, 1 KiB POST, ${opts.warmup} s warm-up + ${opts.duration} s`);
  say(`load B: node open-loop client at ${opts.rate} req/s, ${opts.warmup} s warm-up + ${opts.duration} s; ${opts.rounds} interleaved round(s), medians`);

  const b: Bench = { processes, placement, tmp, upstream: await startUpstream(processes, placement) };
  const targets = await startTargets(b, opts);
  const samples = await runRounds(b, gen, targets, opts);
  // Nothing else may run on the proxy's CPU during the memory and profile phases.
  const stopTargets = async () => {
    for (const t of targets) if (t.child !== null) await processes.stop(t.child);
  };
  const outrider = targets.find((t) => t.name === 'outrider');
  const health = outrider === undefined ? null : await outriderHealth(outrider, samples, stopTargets);
  if (outrider === undefined) await stopTargets();

  let memory: MemoryResult | null = null;
  if (outrider !== undefined && opts.memoryRequests > 0) {
    say(`memory: a fresh outrider, ${opts.memoryRequests.toLocaleString('en-US')} requests (${MEMORY_WARMUP_REQUESTS.toLocaleString('en-US')} warm-up), ${opts.connections} connections`);
    memory = await withTarget(b, 'memory', undefined, (t) => memoryPhase(b, t, opts.memoryRequests, opts.connections));
  }
  let profile: ProfileResult | null = null;
  if (outrider !== undefined && opts.profile) {
    say('profile: a fresh outrider under --cpu-prof, one load A run');
    profile = await profilePhase(b, gen, opts, stamp);
  }

  const result: BenchResult = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    loadAverageAtEnd: loadAverage(),
    options: opts,
    summary: summarize(samples, targets.map((t) => t.name)),
    samples,
    outrider: health,
    memory,
    profile,
  };
  say('');
  for (const line of formatReport(result)) say(line);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `overhead-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  say(`results: ${file}`);
}

/** Ctrl-C, kill and failure all end with every started process stopped and the temp dir gone. */
function cleanupOnExit(processes: Processes, tmp: string): void {
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping every process the bench started\n`);
    void processes.stopAll().finally(() => {
      rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => processes.killAllNow());
}

async function main(argv: readonly string[]): Promise<void> {
  let opts: Options;
  try {
    const parsed = parseOptions(argv);
    if (parsed === 'help') {
      say(USAGE);
      return;
    }
    opts = parsed;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench: ${e.message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const processes = new Processes();
  const tmp = await mkdtemp(join(tmpdir(), 'outrider-bench-'));
  cleanupOnExit(processes, tmp);
  try {
    await bench(opts, processes, tmp);
  } catch (e) {
    process.stderr.write(`bench failed: ${(e as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await processes.stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));
