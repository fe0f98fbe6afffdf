// What is printed: each scenario's table, then every bar with its verdict; and the shape of
// bench/results/runtime-*.json.
import type { Bar, ScenarioResult } from './bench.ts';
import type { Options } from './options.ts';

export interface Machine {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly node: string;
  readonly pinned: boolean;
  readonly placement: string;
  /** 1-minute load average when the bench started: other work on the machine skews every figure. */
  readonly loadAverage: number;
}

export interface RuntimeBenchResult {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Machine;
  readonly loadAverageAtEnd: number;
  readonly options: Options;
  readonly scenarios: readonly ScenarioResult[];
  readonly failures: readonly { readonly scenario: string; readonly error: string }[];
}

/** Left-aligned first column, right-aligned numbers, a rule under the header (as bench/overhead prints). */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const cells = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export function fmt(v: number | null, digits = 0): string {
  if (v === null || !Number.isFinite(v)) return '-';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratio(v: number | null): string {
  return v === null || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`;
}

export function formatBars(bars: readonly (Bar & { readonly scenario: string })[]): string[] {
  return formatTable(['scenario', 'bar', 'measured', 'limit', 'verdict'], bars.map((b) => [
    b.scenario, b.name, `${fmt(b.value, b.unit === 'x' ? 2 : 0)}${b.unit === 'x' ? 'x' : ` ${b.unit}`}`, `${b.limit}${b.unit === 'x' ? 'x' : ` ${b.unit}`}`, b.pass ? 'PASS' : 'FAIL',
  ]));
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
