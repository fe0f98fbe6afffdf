// `npm run chaos` runs every scenario and writes the report to chaos/reports/;
// `npm run chaos -- <name> [<name>...]` runs those; `--short` uses the short windows of the
// `npm test` subset; `--list` prints the scenarios. Exit code 1 when any scenario fails.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopAll } from './outrider.ts';
import { pinForChaos } from './placement.ts';
import { buildReport, writeReport } from './report.ts';
import { runScenario } from './scenario.ts';
import type { ScenarioResult } from './scenario.ts';
import { SCENARIOS } from './scenarios/index.ts';

const REPORTS = fileURLToPath(new URL('./reports/', import.meta.url));

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({ allowPositionals: true, options: { short: { type: 'boolean', default: false }, list: { type: 'boolean', default: false }, out: { type: 'string' } } });
}
try {
  parsed = parse();
} catch (e) {
  process.stderr.write(`chaos: ${(e as Error).message}\n`);
  process.exit(2);
}
const { values, positionals } = parsed;

if (values.list) {
  for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(24)} ${s.fault}\n`);
  process.exit(0);
}

const unknown = positionals.filter((n) => !SCENARIOS.some((s) => s.name === n));
if (unknown.length > 0) {
  process.stderr.write(`chaos: no scenario named ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}
const chosen = positionals.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => positionals.includes(s.name));

// Interrupted: stop the Outriders (and so their runtimes) first; the injector and fixtures
// exit on their own when this process's pipes close.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => { void stopAll().finally(() => process.exit(130)); });
}

const log = (m: string): void => { process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${m}\n`); };
const placed = pinForChaos();
log(`placement: ${placed.note}`);
const started = new Date();
const t0 = performance.now();
const results: ScenarioResult[] = [];
for (const s of chosen) {
  log(`▶ ${s.name}: ${s.fault}`);
  const res = await runScenario(s, { short: values.short, log });
  results.push(res);
  for (const c of res.criteria) log(`  ${c.pass ? '✔' : '✘'} ${c.key}: ${c.observed}`);
  if (res.error !== null) log(`  stopped early: ${res.error.split('\n')[0]}`);
  log(`${res.pass ? 'PASS' : 'FAIL'} ${s.name} (${(res.durationMs / 1000).toFixed(1)} s)`);
}
const report = buildReport(started, Math.round(performance.now() - t0), results);
const file = await writeReport(values.out === undefined ? REPORTS : path.resolve(values.out), report);
const failed = results.filter((r) => !r.pass).map((r) => r.name);
log(`${results.length - failed.length}/${results.length} passed in ${(report.durationMs / 1000).toFixed(1)} s; report: ${file}`);
if (failed.length > 0) log(`failed: ${failed.join(', ')}`);
process.exit(failed.length > 0 ? 1 : 0);
