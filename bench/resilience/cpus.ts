// CPU placement, as in bench/overhead: the proxy under test alone on one CPU, the load generator
// and the upstreams on another, when taskset (util-linux) is installed and two CPUs are allowed.
// Without it every process runs unpinned and the report says so.
import { execFileSync, fork } from 'node:child_process';
import type { ChildProcess, ForkOptions } from 'node:child_process';
import { allowedCpus } from '../cpus.ts';

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const cpus = allowedCpus();
const usable = hasTaskset() && cpus.length >= 2;
export const LOAD_CPU: number | null = usable ? cpus[0]! : null;
export const PROXY_CPU: number | null = usable ? cpus[1]! : null;
export const PLACEMENT = usable
  ? `load generator + upstreams on CPU ${LOAD_CPU}, proxy on CPU ${PROXY_CPU}`
  : 'unpinned (taskset missing or a single CPU allowed)';

/** The command line that runs `command args` on `cpu` (unchanged when not pinning). */
export function pinned(cpu: number | null, command: string, args: readonly string[]): { command: string; args: string[] } {
  if (cpu === null) return { command, args: [...args] };
  return { command: 'taskset', args: ['-c', String(cpu), command, ...args] };
}

/** fork() of `module` on `cpu` (unpinned when null): taskset execs node in place, keeping the IPC channel fork() opened. */
export function forkPinned(cpu: number | null, module: string, args: readonly string[], options: ForkOptions): ChildProcess {
  if (cpu === null) return fork(module, args, options);
  return fork(module, args, { ...options, execPath: 'taskset', execArgv: ['-c', String(cpu), process.execPath] });
}

/** Moves this process (the load generator) onto its CPU. */
export function pinSelf(): void {
  if (LOAD_CPU !== null) execFileSync('taskset', ['-pc', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' });
}
