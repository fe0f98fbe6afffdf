// `npm run bench:resilience`: the resilience bars of issue 5, each against its own baseline in
// the same run: (a) one backend fully hung, (b) 5× overload, (c) retries against their budget.
// Prints a report and writes bench/results/resilience-*.json.
//   npm run bench:resilience                       # all, full length (~2 min)
//   npm run bench:resilience -- --quick            # shorter phases, 10 s failure window (~40 s)
//   npm run bench:resilience -- --only hung,budget
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { budgetScenario } from './budget.ts';
import { hungScenario } from './hung.ts';
import { PLACEMENT, pinSelf } from './cpus.ts';
import { closeLoad } from './load.ts';
import { overloadScenario } from './overload.ts';
import { REPO_ROOT } from './outrider.ts';
import type { ScenarioResult } from './result.ts';
import { benchArgs } from '../args.ts';

const SCENARIOS: Record<string, (quick: boolean) => Promise<ScenarioResult>> = {
  hung: hungScenario,
  overload: overloadScenario,
  budget: budgetScenario,
};

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<number> {
  const values = benchArgs({ quick: { type: 'boolean', default: false }, only: { type: 'string' } }, `usage: npm run bench:resilience -- [--quick] [--only ${Object.keys(SCENARIOS).join(',')}]`);
  const names = values.only === undefined ? Object.keys(SCENARIOS) : values.only.split(',');
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; choose among ${Object.keys(SCENARIOS).join(', ')}\n`);
    return 2;
  }
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`;
  pinSelf();
  say(`resilience bench${values.quick ? ' (--quick)' : ''} on ${machine}; ${PLACEMENT}`);
  const results: ScenarioResult[] = [];
  for (const name of names) {
    const t0 = performance.now();
    say(`\n== ${name}`);
    const r = await SCENARIOS[name]!(values.quick);
    results.push(r);
    for (const [k, v] of Object.entries(r.figures)) say(`  ${k}: ${String(v)}`);
    for (const b of r.bars) say(`  [${b.pass ? 'PASS' : 'FAIL'}] ${b.name}: ${b.value} (bar ${b.limit})`);
    say(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  await closeLoad();
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `resilience-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ machine, placement: PLACEMENT, quick: values.quick, results }, null, 2)}\n`);
  say(`\nwrote ${path.relative(REPO_ROOT, file)}`);
  return results.flatMap((r) => r.bars).every((b) => b.pass) ? 0 : 1;
}

process.exitCode = await main();
