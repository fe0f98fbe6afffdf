// Upstreams for the bench, each in its own process (upstream-server.ts), pinned beside the load
// generator when taskset is there; the proxy has the other CPU to itself.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LOAD_CPU, forkPinned } from './cpus.ts';

const SERVER = fileURLToPath(new URL('./upstream-server.ts', import.meta.url));

export interface Upstream {
  readonly origin: string;
  /** Requests received so far. */
  hits(): Promise<number>;
  /** Switches the status a `status:` upstream answers with. */
  setStatus(status: number): Promise<void>;
  close(): Promise<void>;
}

async function start(kind: string): Promise<Upstream> {
  const stdio = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
  const child: ChildProcess = forkPinned(LOAD_CPU, SERVER, [kind], { stdio: [...stdio] });
  const ask = (m: object) => new Promise<{ hits: number }>((resolve) => {
    child.once('message', (r) => resolve(r as { hits: number }));
    child.send(m);
  });
  const origin = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { origin: string }).origin));
    child.once('exit', (code) => reject(new Error(`upstream ${kind} exited with ${code}`)));
  });
  return {
    origin,
    hits: async () => (await ask({ hits: true })).hits,
    setStatus: async (status) => { await ask({ status }); },
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export const hung = (): Promise<Upstream> => start('hung');
export const serviceTime = (ms: number): Promise<Upstream> => start(`delay:${ms}`);
export const switchable = (status: number): Promise<Upstream> => start(`status:${status}`);
