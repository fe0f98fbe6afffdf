// The CPUs this process may run on, for the benches and `npm run chaos` that pin with taskset.
import { readFileSync } from 'node:fs';

/**
 * The CPUs in `Cpus_allowed_list` (e.g. `2-3,6`), in order: a container or cgroup cpuset need
 * not include CPUs 0 and 1. Empty when the line is missing or cannot be read.
 */
export function allowedCpus(status: string = readStatus()): number[] {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  if (m === null) return [];
  const cpus: number[] = [];
  for (const part of m[1]!.split(',')) {
    const [lo, hi] = part.split('-').map(Number);
    if (!Number.isInteger(lo)) return [];
    for (let c = lo!; c <= (hi ?? lo!) && cpus.length < 4096; c++) cpus.push(c);
  }
  return cpus;
}

function readStatus(): string {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return '';
  }
}
