// Starting the chaos helper processes (the fault injector, standalone model servers): each
// prints one JSON `listening` line on stdout once its ports are bound.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';

export interface Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** The parsed `listening` line. */
  readonly announced: Readonly<Record<string, unknown>>;
  readonly stderr: readonly string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

export interface ChildOptions {
  readonly nodeArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly startTimeoutMs?: number;
}

/** Runs `script` with this Node and waits for its `listening` line. */
export async function startChild(script: string, args: readonly string[], opts: ChildOptions = {}): Promise<Child> {
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), script, ...args], {
    env: { ...process.env, ...opts.env, CHAOS_PARENT_WATCH: '1' },
    // The child exits when this pipe closes (./parent-watch.ts): it never outlives the scenario.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  readline.createInterface({ input: proc.stderr! }).on('line', (l) => { if (stderr.length < 200) stderr.push(l); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async (graceMs = 3_000): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  };
  const announced = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${script} did not announce its port within ${opts.startTimeoutMs ?? 10_000} ms; stderr: ${stderr.join('\n')}`));
    }, opts.startTimeoutMs ?? 10_000);
    const lines = readline.createInterface({ input: proc.stdout! });
    lines.on('line', (line) => {
      let obj: Record<string, unknown>;
      try { obj = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      if (obj['msg'] !== 'listening') return;
      clearTimeout(timer);
      resolve(obj);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${proc.exitCode ?? proc.signalCode}) before listening; stderr: ${stderr.join('\n')}`));
    });
  });
  return { proc, pid: proc.pid!, announced, stderr, stop };
}
