// The facts printed before any figure: figures from different machines or placements do not compare.
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, release } from 'node:os';
import { NGINX_BIN } from './nginx.ts';
import type { Placement } from './processes.ts';
import { nginxAvailable } from './targets.ts';
import type { LoadGenerator } from './throughput.ts';

export interface MachineFacts {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly node: string;
  readonly pinned: boolean;
  readonly placement: string;
  readonly loadGenerator: string;
  readonly nginx: string | null;
  /** 1-minute load average when the bench started: other work on the machine skews every figure. */
  readonly loadAverage: number;
}

export function machineFacts(placement: Placement, gen: LoadGenerator): MachineFacts {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    pinned: placement.pinned,
    placement: placement.note,
    loadGenerator: gen.version,
    nginx: nginxAvailable() ? spawnSync(NGINX_BIN, ['-v'], { encoding: 'utf8' }).stderr.trim() : null,
    loadAverage: loadAverage(),
  };
}

export function loadAverage(): number {
  return loadavg()[0] ?? 0;
}

export function describeMachine(m: MachineFacts): string[] {
  return [
    `machine: ${m.nproc} CPUs (${m.cpuModel}), Linux ${m.kernel}, node ${m.node}, load average ${m.loadAverage.toFixed(2)}`,
    `placement: ${m.pinned ? 'pinned' : 'NOT pinned'}: ${m.placement}`,
    `reference proxy: ${m.nginx ?? `none (${NGINX_BIN} not found)`}`,
  ];
}
