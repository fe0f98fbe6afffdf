// Starts the real `outrider run` process on a config written to a temp dir (ports 0), and
// reads the bound addresses from its `listening` log line.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = path.join(ROOT, 'proxy', 'cli.ts');

export interface Running {
  readonly proc: ChildProcess;
  readonly data: string;       // http://127.0.0.1:PORT
  readonly admin: string;
  readonly dir: string;
  readonly configFile: string;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  readonly stderr: string[];
  waitForLog(pred: (l: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function writeConfig(yaml: string, dir?: string): Promise<{ dir: string; file: string }> {
  const d = dir ?? await mkdtemp(path.join(tmpdir(), 'outrider-test-'));
  const file = path.join(d, 'outrider.yaml');
  await writeFile(file, yaml);
  return { dir: d, file };
}

/** `cpu`: start it under `taskset -c cpu` (taskset execs Node: the pid is Outrider's; its runtimes inherit the CPU). */
export async function startOutrider(yaml: string, opts: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number; dir?: string; cpu?: number } = {}): Promise<Running> {
  const { dir, file } = await writeConfig(yaml, opts.dir);
  const argv = [CLI, 'run', '-c', file];
  const proc = spawn(opts.cpu === undefined ? process.execPath : 'taskset', opts.cpu === undefined ? argv : ['-c', String(opts.cpu), process.execPath, ...argv], {
    cwd: dir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters = new Set<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();
  readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
    let obj: Record<string, unknown>;
    try { obj = JSON.parse(line) as Record<string, unknown>; } catch { return; }
    logs.push(obj);
    for (const w of waiters) if (w.pred(obj)) { waiters.delete(w); w.resolve(obj); }
  });
  readline.createInterface({ input: proc.stderr! }).on('line', (line) => { stderr.push(line); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, ms = 20_000) => {
    const found = logs.find(pred);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const w = { pred, resolve: (l: Record<string, unknown>) => { clearTimeout(t); resolve(l); } };
      const t = setTimeout(() => { waiters.delete(w); reject(new Error(`log line not seen within ${ms} ms; stderr: ${stderr.join('\n')}`)); }, ms);
      waiters.add(w);
      void exited.then((code) => { if (waiters.has(w)) { clearTimeout(t); waiters.delete(w); reject(new Error(`outrider exited with ${code}: ${stderr.join('\n')}`)); } });
    });
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill(signal);
    const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  try {
    const line = await waitForLog((l) => l['msg'] === 'listening', opts.readyTimeoutMs ?? 20_000);
    return { proc, data: `http://${line['data'] as string}`, admin: `http://${line['admin'] as string}`, dir, configFile: file, logs, stderr, waitForLog, stop };
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
}

/** Polls /readyz until it answers 200. */
export async function waitReady(admin: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  let last = '';
  while (Date.now() < until) {
    try {
      const r = await fetch(`${admin}/readyz`);
      last = await r.text();
      if (r.status === 200) return;
    } catch (e) { last = String(e); }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not ready within ${ms} ms: ${last}`);
}

/** Runs the CLI to completion (validate, bad configs), returning its exit code and output. */
export async function runCli(args: readonly string[], cwd = ROOT): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}
