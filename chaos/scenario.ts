// What a chaos scenario is: a fault, pass criteria stated before it runs, and a run that checks
// each criterion against observed figures. Resources a run starts are released in reverse order
// whatever happens, and a run is cut off at its time limit.
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface Check {
  readonly criterion: string;
  readonly pass: boolean;
  readonly observed: string;
}

export interface ScenarioRun {
  /** Shorter windows and rates: the subset that runs in `npm test`. */
  readonly short: boolean;
  log(msg: string): void;
  /** Registers a cleanup; cleanups run last-in first-out after the run, even when it fails. */
  defer(fn: () => unknown): void;
  /** Records the outcome of the stated criterion `key`; a criterion may be checked more than once. */
  check(key: string, pass: boolean, observed: string): void;
  /** A figure for the report (latencies, counts, rates). */
  figure(name: string, value: number | string): void;
}

export interface Scenario {
  readonly name: string;
  /** One line: what is injected, and where. */
  readonly fault: string;
  /** The pass criteria, by key, stated before the run. */
  readonly criteria: Readonly<Record<string, string>>;
  /** Route keys (SPEC §2) the scenario relies on beyond the core proxy, for the report. */
  readonly needs: readonly string[];
  /** The run is abandoned (and fails) after this long. */
  readonly timeoutMs: number;
  run(r: ScenarioRun): Promise<void>;
}

export interface CriterionResult {
  readonly key: string;
  readonly criterion: string;
  readonly pass: boolean;
  readonly observed: string;
}

export interface ScenarioResult {
  readonly name: string;
  readonly fault: string;
  readonly needs: readonly string[];
  readonly pass: boolean;
  readonly durationMs: number;
  readonly criteria: readonly CriterionResult[];
  readonly figures: Readonly<Record<string, number | string>>;
  /** Why the run stopped before evaluating everything, if it did. */
  readonly error: string | null;
}

export async function runScenario(s: Scenario, opts: { short: boolean; log: (msg: string) => void }): Promise<ScenarioResult> {
  const started = performance.now();
  const checks = new Map<string, Check[]>();
  const figures: Record<string, number | string> = {};
  const cleanups: (() => unknown)[] = [];
  let error: string | null = null;
  const run: ScenarioRun = {
    short: opts.short,
    log: (m) => opts.log(`[${s.name}] ${m}`),
    defer: (fn) => { cleanups.push(fn); },
    check: (key, pass, observed) => {
      const criterion = s.criteria[key];
      if (criterion === undefined) throw new Error(`scenario ${s.name} checked "${key}", which is not one of its stated criteria`);
      const list = checks.get(key) ?? [];
      list.push({ criterion, pass, observed });
      checks.set(key, list);
    },
    figure: (name, value) => { figures[name] = typeof value === 'number' ? round(value) : value; },
  };
  // How late this process's own timers ran: a measure of how busy the machine was, next to the
  // timing criteria (a scheduler that leaves the runner waiting leaves Outrider waiting too).
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      s.run(run),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${s.timeoutMs} ms`)), s.timeoutMs); }),
    ]);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  } finally {
    clearTimeout(timer);
    loopDelay.disable();
    figures['runner event-loop delay p99 / max'] = `${(loopDelay.percentile(99) / 1e6).toFixed(1)} / ${(loopDelay.max / 1e6).toFixed(1)} ms`;
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        opts.log(`[${s.name}] cleanup failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  const criteria: CriterionResult[] = Object.entries(s.criteria).map(([key, criterion]) => {
    const list = checks.get(key);
    if (list === undefined || list.length === 0) return { key, criterion, pass: false, observed: error === null ? 'not evaluated' : `not evaluated: ${firstLine(error)}` };
    return { key, criterion, pass: list.every((c) => c.pass), observed: list.map((c) => c.observed).join('; ') };
  });
  return {
    name: s.name,
    fault: s.fault,
    needs: s.needs,
    pass: error === null && criteria.every((c) => c.pass),
    durationMs: Math.round(performance.now() - started),
    criteria,
    figures,
    error,
  };
}

function firstLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  // The line worth showing: Outrider's refusal of a gated key, else the error itself, not the stack around it.
  const gate = lines.find((l) => l.includes('not available in this version'));
  const err = lines.find((l) => /^(\w*Error\b|error:)/i.test(l) || /: error: /.test(l));
  return [lines[0], gate ?? err].filter((l, i, a) => l !== undefined && a.indexOf(l) === i).join(' … ').slice(0, 400);
}

function round(n: number): number {
  return Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 100) / 100;
}
