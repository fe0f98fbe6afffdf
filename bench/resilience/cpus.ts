// CPU placement, as in bench/overhead: the proxy under test alone on one CPU, the load generator
// and the upstreams on another, when taskset (util-linux) is installed and two CPUs are allowed.
// Without it every process runs unpinned and the report says so.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function allowed(): number[] {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('Cpus_allowed_list:'));
  if (line === undefined) return [];
  const cpus: number[] = [];
  for (const part of line.slice(line.indexOf(':') + 1).trim().split(',')) {
    const [lo, hi] = part.split('-').map(Number) as [number, number | undefined];
    for (let c = lo; c <= (hi ?? lo); c++) cpus.push(c);
  }
  return cpus;
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const cpus = allowed();
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

/** Moves this process (the load generator) onto its CPU. */
export function pinSelf(): void {
  if (LOAD_CPU !== null) execFileSync('taskset', ['-pc', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' });
}
