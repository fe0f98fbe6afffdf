// Where `npm run chaos` puts its processes. Timing criteria (shed in < 1 ms of proxy time, a
// deadline + 50 ms) measure Outrider only when the load generator, the injector and the fixture
// servers cannot preempt it mid-request: with taskset and two or more CPUs, the runner (and every
// helper it starts, which inherit its affinity) runs on CPU 0 and each Outrider (with its runtime
// workers) on CPU 1, as in bench/. Without taskset, or on one CPU, everything runs unpinned. The
// `npm test` subset never pins (the test runner's own concurrency decides there).
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface Placement {
  /** The CPU each Outrider is started on; null: unpinned. */
  readonly proxyCpu: number | null;
  readonly note: string;
}

let current: Placement = { proxyCpu: null, note: 'unpinned' };

export function placement(): Placement {
  return current;
}

/** Pins this process to CPU 0 and Outriders to CPU 1 when it can; returns what it did. */
export function pinForChaos(): Placement {
  if (os.availableParallelism() < 2) {
    current = { proxyCpu: null, note: 'unpinned (one CPU)' };
    return current;
  }
  try {
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  } catch (e) {
    current = { proxyCpu: null, note: `unpinned (taskset: ${(e as Error).message.split('\n')[0]})` };
    return current;
  }
  current = { proxyCpu: 1, note: 'pinned: runner, injector and fixtures on CPU 0; Outrider and its runtimes on CPU 1' };
  return current;
}
