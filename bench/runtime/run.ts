// `npm run bench:runtime`: the co-located runtime bars of issue 4, each against a baseline
// measured in the same run: batching gain on a generated memory-bound model, serving overhead
// over in-process session.run, warm start after /readyz, recovery after SIGKILL of a replica.
// Prints a table per scenario and every bar; writes bench/results/runtime-<timestamp>.json.
//   npm run bench:runtime                      # everything (~3 min on 2 cores)
//   npm run bench:runtime -- --quick           # a short run (~1 min)
//   npm run bench:runtime -- --only batching,recovery
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Processes, choosePlacement } from '../overhead/processes.ts';
import type { Placement } from '../overhead/processes.ts';
import { batchingScenario } from './batching.ts';
import type { BenchContext, ScenarioResult } from './bench.ts';
import { USAGE, UsageError, parseOptions } from './options.ts';
import type { Options, ScenarioName } from './options.ts';
import { REPO_ROOT } from './outrider.ts';
import { overheadScenario } from './overhead.ts';
import { recoveryScenario } from './recovery.ts';
import { formatBars } from './report.ts';
import type { Machine, RuntimeBenchResult } from './report.ts';
import { warmStartScenario } from './warm-start.ts';

const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

const SCENARIOS: Readonly<Record<ScenarioName, (ctx: BenchContext) => Promise<ScenarioResult>>> = {
  'batching': batchingScenario,
  'overhead': overheadScenario,
  'warm-start': warmStartScenario,
  'recovery': recoveryScenario,
};

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/**
 * The load this process generates runs on the load CPU, away from Outrider and its workers
 * (pinned to the proxy CPU at spawn). `-a`: every thread of this process, libuv's included.
 */
function pinSelf(p: Placement): Placement {
  if (!p.pinned || p.loadCpu === null) return p;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(p.loadCpu), String(process.pid)], { stdio: 'ignore' });
    return { ...p, note: `bench process (load generator, admin polling) on CPU ${p.loadCpu}; outrider, its workers and the in-process baseline on CPU ${p.proxyCpu}` };
  } catch (e) {
    return { pinned: false, loadCpu: null, proxyCpu: null, note: `taskset could not pin the bench process (${(e as Error).message}): every process runs unpinned` };
  }
}

function machine(p: Placement): Machine {
  return {
    // cpus(), not availableParallelism(): this process is pinned to one CPU by now.
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    pinned: p.pinned,
    placement: p.note,
    loadAverage: loadavg()[0] ?? 0,
  };
}

async function bench(opts: Options, processes: Processes, tmp: string): Promise<boolean> {
  const startedAt = new Date();
  const placement = pinSelf(choosePlacement());
  const m = machine(placement);
  say(`machine: ${m.nproc} CPUs (${m.cpuModel}), Linux ${m.kernel}, node ${m.node}, load average ${m.loadAverage.toFixed(2)}`);
  say(`placement: ${m.pinned ? 'pinned' : 'NOT pinned'}: ${m.placement}`);
  const ctx: BenchContext = { processes, placement, tmp, opts, say };
  const results: ScenarioResult[] = [];
  const failures: { scenario: string; error: string }[] = [];
  for (const name of opts.only) {
    say(`\n== ${name}`);
    try {
      results.push(await SCENARIOS[name](ctx));
    } catch (e) {
      // One broken scenario must not lose the others' figures.
      failures.push({ scenario: name, error: (e as Error).message });
      say(`  FAILED: ${(e as Error).message}`);
      await processes.stopAll();
    }
  }
  for (const r of results) {
    say(`\n== ${r.scenario} (${r.seconds.toFixed(0)} s)`);
    for (const line of r.lines) say(line);
  }
  const bars = results.flatMap((r) => r.bars.map((b) => ({ ...b, scenario: r.scenario })));
  const loadAtEnd = loadavg()[0] ?? 0;
  say('');
  for (const line of formatBars(bars)) say(line);
  say(`load average: ${m.loadAverage.toFixed(2)} at the start, ${loadAtEnd.toFixed(2)} at the end (${m.nproc} CPUs); placement: ${m.pinned ? 'pinned' : 'NOT pinned'}`);
  if (m.loadAverage > m.nproc || loadAtEnd > m.nproc) say('WARNING: the machine was busy with other work during the run: absolute figures are pessimistic, ratios less so');
  for (const f of failures) say(`FAILED scenario ${f.scenario}: ${f.error}`);

  const result: RuntimeBenchResult = {
    startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), machine: m, loadAverageAtEnd: loadAtEnd, options: opts, scenarios: results, failures,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `runtime-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  say(`results: ${relative(REPO_ROOT, file)}`);
  return failures.length === 0 && bars.every((b) => b.pass);
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
    process.stderr.write(`bench:runtime: ${e.message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const processes = new Processes();
  const tmp = await mkdtemp(join(tmpdir(), 'outrider-bench-runtime-'));
  cleanupOnExit(processes, tmp);
  try {
    process.exitCode = (await bench(opts, processes, tmp)) ? 0 : 1;
  } catch (e) {
    process.stderr.write(`bench:runtime failed: ${(e as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await processes.stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));
