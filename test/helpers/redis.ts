// A real redis-server for tests: its own loopback port and temp dir, no persistence, killed
// after the test. Restartable on the same port (a Redis that dies and comes back).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { TestContext } from 'node:test';
import { closedPort } from './upstreams.ts';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** SIGKILL: the connection drops at once, like a crashed server. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that stops answering without closing its connections. */
  pause(): void;
  resume(): void;
  /** Starts it again on the same port (empty). */
  restart(): Promise<void>;
}

export async function startRedis(t: TestContext, opts: { password?: string } = {}): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(tmpdir(), 'outrider-redis-'));
  const port = await closedPort();
  let proc: ChildProcess | null = null;
  const launch = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'];
    if (opts.password !== undefined) args.push('--requirepass', opts.password);
    const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    await waitForPort(p, port);
  };
  const kill = async () => {
    const p = proc;
    proc = null;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGCONT');
    p.kill('SIGKILL');
    await exited;
  };
  t.after(async () => {
    await kill();
    await rm(dir, { recursive: true, force: true });
  });
  await launch();
  const auth = opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`;
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    kill,
    pause: () => { proc?.kill('SIGSTOP'); },
    resume: () => { proc?.kill('SIGCONT'); },
    restart: launch,
  };
}

/** Resolves once the server accepts connections (it logs nothing at `warning` level, so the port is polled). */
async function waitForPort(p: ChildProcess, port: number): Promise<void> {
  const errors: string[] = [];
  readline.createInterface({ input: p.stderr! }).on('line', (l) => errors.push(l));
  readline.createInterface({ input: p.stdout! }).on('line', (l) => errors.push(l));
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (p.exitCode !== null) throw new Error(`redis-server exited with ${p.exitCode}: ${errors.join('\n')}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  p.kill('SIGKILL');
  throw new Error(`redis-server did not listen on ${port} within 10 s: ${errors.join('\n')}`);
}
