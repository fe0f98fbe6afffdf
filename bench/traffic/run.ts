// `npm run bench:traffic`: the traffic-management bars (issue 6), each measured against its own
// baseline in the same run: split accuracy and sticky-key movement, a hanging/failing shadow's
// effect on the primary's p99, p2c-ewma against round-robin with a slowed endpoint, and how
// fast a canary regression is rolled back. Prints a report and writes bench/results/traffic-*.json.
//   npm run bench:traffic                  # every scenario (~2-4 min on 2 cores)
//   npm run bench:traffic -- split,canary  # some of them
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, closeHarness } from './harness.ts';
import { PLACEMENT, pinSelf } from '../resilience/cpus.ts';
import type { ScenarioResult } from './result.ts';
import { splitScenario } from './split.ts';
import { shadowScenario } from './shadow.ts';
import { balanceScenario } from './balance.ts';
import { canaryScenario } from './canary.ts';

const SCENARIOS: Record<string, () => Promise<ScenarioResult>> = {
  split: splitScenario,
  shadow: shadowScenario,
  balance: balanceScenario,
  canary: canaryScenario,
};

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<number> {
  const arg = process.argv[2];
  const names = arg === undefined ? Object.keys(SCENARIOS) : arg.split(',');
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; choose among ${Object.keys(SCENARIOS).join(', ')}\n`);
    return 2;
  }
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`;
  pinSelf();
  say(`traffic bench on ${machine}; ${PLACEMENT}`);
  const results: ScenarioResult[] = [];
  for (const name of names) {
    const t0 = performance.now();
    say(`\n== ${name}`);
    const r = await SCENARIOS[name]!();
    results.push(r);
    for (const [k, v] of Object.entries(r.figures)) say(`  ${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`);
    for (const b of r.bars) say(`  [${b.limit === 'info' ? 'INFO' : b.pass ? 'PASS' : 'FAIL'}] ${b.name}: ${b.value} (bar ${b.limit})`);
    say(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  await closeHarness();
  const failed = results.flatMap((r) => r.bars).filter((b) => !b.pass);
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `traffic-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ machine, loadAverageAtEnd: os.loadavg(), results }, null, 2)}\n`);
  say(`\n${failed.length === 0 ? 'every bar met' : `${failed.length} bar(s) missed: ${failed.map((b) => b.name).join('; ')}`}`);
  say(`results: ${path.relative(REPO_ROOT, file)}`);
  return failed.length === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 2;
});
