// Process faults on Outrider's runtimes: find a replica's pid through the admin port
// (GET /runtimes, SPEC §5), signal it, and watch it come back.
import { readFile } from 'node:fs/promises';
import { request } from 'undici';

export interface ReplicaView {
  readonly replica: number;
  readonly pid: number | null;
  readonly state: string;
  readonly restarts: number;
  readonly lastError: string | null;
}

export async function replicas(admin: string, runtime: string): Promise<ReplicaView[]> {
  const r = await request(`${admin}/runtimes`);
  const body = await r.body.json() as { runtimes: { name: string; replicas: ReplicaView[] }[] };
  const rt = body.runtimes.find((x) => x.name === runtime);
  if (rt === undefined) throw new Error(`GET /runtimes has no runtime "${runtime}"`);
  return rt.replicas;
}

/** Polls GET /runtimes until `pred` holds for the replica; returns it, or throws after `timeoutMs`. */
export async function waitForReplica(admin: string, runtime: string, index: number, pred: (r: ReplicaView) => boolean, timeoutMs: number): Promise<ReplicaView> {
  const until = performance.now() + timeoutMs;
  let last: ReplicaView | undefined;
  for (;;) {
    last = (await replicas(admin, runtime)).find((r) => r.replica === index);
    if (last !== undefined && pred(last)) return last;
    if (performance.now() > until) throw new Error(`replica ${runtime}/${index} did not reach the expected state within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The pid of a ready replica (throws when it has none). */
export async function readyPid(admin: string, runtime: string, index: number, timeoutMs = 10_000): Promise<number> {
  const r = await waitForReplica(admin, runtime, index, (x) => x.state === 'ready' && x.pid !== null, timeoutMs);
  return r.pid!;
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  process.kill(pid, sig);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resident set size in MiB (Linux /proc), or null once the process is gone. */
export async function rssMiB(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m === null ? null : Number(m[1]) / 1024;
  } catch {
    return null;
  }
}
