// What every scenario gets (the processes it may start, where to pin them, a temp dir, the
// options) and what it gives back (its printed table, its bars, its raw figures).
import type { Placement, Processes } from '../overhead/processes.ts';
import type { Options, ScenarioName } from './options.ts';

export interface BenchContext {
  readonly processes: Processes;
  readonly placement: Placement;
  readonly tmp: string;
  readonly opts: Options;
  /** A progress line, printed at once. */
  say(line: string): void;
}

export interface Bar {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly limit: string;
  readonly pass: boolean;
}

export interface ScenarioResult {
  readonly scenario: ScenarioName;
  readonly seconds: number;
  /** Its table and the lines that explain it, printed after the run. */
  readonly lines: readonly string[];
  readonly bars: readonly Bar[];
  /** Every figure it measured, for the results file. */
  readonly figures: unknown;
}

export function bar(name: string, value: number, unit: string, limit: { readonly atMost: number } | { readonly atLeast: number }): Bar {
  if ('atMost' in limit) return { name, value, unit, limit: `<= ${limit.atMost.toLocaleString('en-US')}`, pass: value <= limit.atMost };
  return { name, value, unit, limit: `>= ${limit.atLeast.toLocaleString('en-US')}`, pass: value >= limit.atLeast };
}
