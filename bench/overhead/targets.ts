// Starting what is measured: the trivial upstream, and each target in front of it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NGINX_BIN, freePort, prepareNginx } from './nginx.ts';
import type { TargetName } from './options.ts';
import { startOutrider } from './outrider.ts';
import { probe, targetUrl, waitUntilServing } from './probe.ts';
import { portLine, waitForLine } from './processes.ts';
import type { Child, Placement, Processes } from './processes.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const READY_MS = 30_000;

export interface Target {
  readonly name: TargetName;
  readonly url: string;
  /** The process under test, whose CPU is counted; null for `direct`. */
  readonly child: Child | null;
  readonly admin: string | null;
  /** Outrider's stdout (its access log). */
  readonly log: string | null;
}

export interface Upstream {
  readonly child: Child;
  readonly origin: string;
}

export interface Bench {
  readonly processes: Processes;
  readonly placement: Placement;
  readonly tmp: string;
  readonly upstream: Upstream;
}

async function startNodeServer(processes: Processes, name: string, script: string, args: readonly string[], cpu: number | null): Promise<{ child: Child; origin: string }> {
  const child = processes.start(name, process.execPath, [join(HERE, script), ...args], { cpu });
  const port = await waitForLine(child, portLine, READY_MS);
  return { child, origin: `http://127.0.0.1:${port}` };
}

export function startUpstream(processes: Processes, placement: Placement): Promise<Upstream> {
  return startNodeServer(processes, 'upstream', 'upstream.ts', [], placement.loadCpu);
}

export function nginxAvailable(): boolean {
  return existsSync(NGINX_BIN);
}

export interface TargetVariant {
  /** Names the instance's temp dir: the bench, memory and profile phases each get a fresh Outrider. */
  readonly label?: string;
  readonly cpuProfileDir?: string;
}

export async function startTarget(name: TargetName, bench: Bench, variant: TargetVariant = {}): Promise<Target> {
  const { processes, placement, tmp, upstream } = bench;
  const cpu = placement.proxyCpu;
  switch (name) {
    case 'direct':
      await probe(targetUrl(upstream.origin));
      return { name, url: targetUrl(upstream.origin), child: null, admin: null, log: null };
    case 'nginx': {
      const port = await freePort();
      const args = prepareNginx(join(tmp, 'nginx'), port, Number(new URL(upstream.origin).port));
      const child = processes.start('nginx', NGINX_BIN, args, { cpu });
      const url = targetUrl(`http://127.0.0.1:${port}`);
      await waitUntilServing(url, child, READY_MS);
      return { name, url, child, admin: null, log: null };
    }
    case 'undici-bare':
    case 'http-proxy': {
      const { child, origin } = await startNodeServer(processes, name, join('forwarders', `${name}.ts`), [upstream.origin], cpu);
      const url = targetUrl(origin);
      await probe(url);
      return { name, url, child, admin: null, log: null };
    }
    case 'outrider': {
      const dir = join(tmp, `outrider-${variant.label ?? 'bench'}`);
      const { cpuProfileDir } = variant;
      const o = await startOutrider(processes, { dir, upstreamOrigin: upstream.origin, cpu, ...(cpuProfileDir === undefined ? {} : { cpuProfileDir }) });
      const url = targetUrl(o.data);
      await probe(url);
      return { name, url, child: o.child, admin: o.admin, log: o.log };
    }
  }
}
