// Where `npm run chaos` puts its processes. Timing criteria (shed in < 1 ms of proxy time, a
// deadline + 50 ms) measure Outrider only when the load generator, the injector and the fixture
// servers cannot preempt it mid-request: with taskset and two or more CPUs, the runner (and every
// helper it starts, which inherit its affinity) runs on the first allowed CPU and each Outrider (with its
// runtime workers) on the second, as in bench/. Without taskset, or on one CPU, everything runs unpinned. The
// `npm test` subset never pins (the test runner's own concurrency decides there).
import { execFileSync } from 'node:child_process';
import { allowedCpus } from '../bench/cpus.ts';

export interface Placement {
  /** The CPU each Outrider is started on; null: unpinned. */
  readonly proxyCpu: number | null;
  readonly note: string;
}

let current: Placement = { proxyCpu: null, note: 'unpinned' };

export function placement(): Placement {
  return current;
}

/** Pins this process to the first allowed CPU and Outriders to the second when it can; returns what it did. */
export function pinForChaos(): Placement {
  const cpus = allowedCpus();
  if (cpus.length < 2) {
    current = { proxyCpu: null, note: cpus.length === 1 ? 'unpinned (one CPU)' : 'unpinned (allowed CPUs unknown)' };
    return current;
  }
  const [runner, proxy] = cpus as [number, number];
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(runner), String(process.pid)], { stdio: 'ignore' });
  } catch (e) {
    current = { proxyCpu: null, note: `unpinned (taskset: ${(e as Error).message.split('\n')[0]})` };
    return current;
  }
  current = { proxyCpu: proxy, note: `pinned: runner, injector and fixtures on CPU ${runner}; Outrider and its runtimes on CPU ${proxy}` };
  return current;
}
