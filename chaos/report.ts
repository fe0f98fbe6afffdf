// The chaos report: one table row per scenario (fault, pass criteria, observed figures,
// pass/fail), as Markdown for people and JSON for tools.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { placement } from './placement.ts';
import path from 'node:path';
import type { ScenarioResult } from './scenario.ts';

export interface Report {
  readonly startedAt: string;
  readonly durationMs: number;
  readonly machine: { readonly cpus: number; readonly node: string; readonly platform: string; readonly loadAvg: readonly number[]; readonly placement: string };
  readonly pass: boolean;
  readonly scenarios: readonly ScenarioResult[];
}

export function buildReport(startedAt: Date, durationMs: number, scenarios: readonly ScenarioResult[]): Report {
  return {
    startedAt: startedAt.toISOString(),
    durationMs,
    // Timing criteria are only as clean as the machine: the load average says how busy it was.
    machine: { cpus: os.availableParallelism(), node: process.version, platform: `${process.platform}-${process.arch}`, loadAvg: os.loadavg().map((n) => Math.round(n * 100) / 100), placement: placement().note },
    pass: scenarios.every((s) => s.pass),
    scenarios,
  };
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

export function toMarkdown(r: Report): string {
  const passed = r.scenarios.filter((s) => s.pass).length;
  const lines = [
    '# Outrider chaos report',
    '',
    `${r.startedAt} · ${(r.durationMs / 1000).toFixed(1)} s · ${r.machine.cpus} CPUs (load average ${r.machine.loadAvg.join(' ')} at the end; ${r.machine.placement}) · Node ${r.machine.node} · **${passed}/${r.scenarios.length} passed**`,
    '',
    '| scenario | fault | pass criteria | observed | result |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const s of r.scenarios) {
    const criteria = s.criteria.map((c) => `${c.pass ? '✔' : '✘'} ${c.criterion}`).join('<br>');
    const observed = s.criteria.map((c) => `${c.key}: ${c.observed}`).join('<br>');
    lines.push(`| ${cell(s.name)} | ${cell(s.fault)} | ${cell(criteria)} | ${cell(observed)} | ${s.pass ? 'PASS' : '**FAIL**'} (${(s.durationMs / 1000).toFixed(1)} s) |`);
  }
  for (const s of r.scenarios) {
    lines.push('', `## ${s.name} — ${s.pass ? 'PASS' : 'FAIL'}`, '', `Fault: ${s.fault}`, '');
    if (s.needs.length > 0) lines.push(`Needs: ${s.needs.join(', ')}`, '');
    if (s.error !== null) lines.push('Stopped early:', '', '```', s.error.slice(0, 2_000), '```', '');
    lines.push('| criterion | observed | result |', '| --- | --- | --- |');
    for (const c of s.criteria) lines.push(`| ${cell(c.criterion)} | ${cell(c.observed)} | ${c.pass ? 'pass' : '**fail**'} |`);
    const figures = Object.entries(s.figures);
    if (figures.length > 0) {
      lines.push('', '| figure | value |', '| --- | --- |');
      for (const [k, v] of figures) lines.push(`| ${cell(k)} | ${cell(String(v))} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Writes chaos-<time>.md/.json and latest.md/.json under `dir`; returns the Markdown path. */
export async function writeReport(dir: string, r: Report): Promise<string> {
  await mkdir(dir, { recursive: true });
  const stamp = r.startedAt.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z');
  const md = toMarkdown(r);
  const json = `${JSON.stringify(r, null, 2)}\n`;
  const file = path.join(dir, `chaos-${stamp}.md`);
  await Promise.all([
    writeFile(file, md),
    writeFile(path.join(dir, `chaos-${stamp}.json`), json),
    writeFile(path.join(dir, 'latest.md'), md),
    writeFile(path.join(dir, 'latest.json'), json),
  ]);
  return file;
}
