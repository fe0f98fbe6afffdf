// Every process the bench starts goes through here: pinned with taskset when possible, tracked
// so that all of them are stopped at the end, on failure and on Ctrl-C, and measured from /proc.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { allowedCpus } from '../cpus.ts';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';

export interface Placement {
  readonly pinned: boolean;
  readonly loadCpu: number | null;    // the upstream and the load generator
  readonly proxyCpu: number | null;   // the proxy under test
  readonly note: string;
}

/** Upstream + load generator on the first allowed CPU, the proxy alone on the second (the reference placement). */
export function choosePlacement(): Placement {
  const taskset = findExecutable('taskset');
  // Without the status line, assume every CPU is allowed.
  const listed = allowedCpus();
  const cpus = listed.length > 0 ? listed : Array.from({ length: availableParallelism() }, (_, i) => i);
  if (taskset === null) return { pinned: false, loadCpu: null, proxyCpu: null, note: 'taskset (util-linux) not found: every process runs unpinned' };
  const [load, proxy] = cpus;
  if (load === undefined || proxy === undefined) {
    return { pinned: false, loadCpu: null, proxyCpu: null, note: `only ${cpus.length} CPU allowed: every process runs unpinned` };
  }
  return { pinned: true, loadCpu: load, proxyCpu: proxy, note: `upstream + load generator on CPU ${load}, proxy under test on CPU ${proxy}` };
}

export function findExecutable(name: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return null;
}

export interface StartOptions {
  readonly cpu: number | null;
  /** 'pipe' to read a ready line, or an open file descriptor (Outrider's log). */
  readonly stdout?: 'pipe' | 'ignore' | number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

const STDERR_TAIL = 4096;

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;
  /** performance.now() at spawn: the origin of a --cpu-prof profile's clock, within node's boot time. */
  readonly startedAt = performance.now();
  private tail = '';
  private spawnError: Error | null = null;

  constructor(name: string, proc: ChildProcess) {
    this.name = name;
    this.proc = proc;
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => { this.tail = (this.tail + s).slice(-STDERR_TAIL); });
    this.exited = new Promise((resolve) => {
      proc.once('error', (e) => { this.spawnError = e; resolve(); });
      proc.once('exit', () => resolve());
    });
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error(`${this.name} did not start: ${this.spawnError?.message ?? 'no pid'}`);
    return this.proc.pid;
  }

  get spawnFailed(): boolean {
    return this.spawnError !== null;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null && this.spawnError === null;
  }

  /** Why it ended, with the end of its stderr: for error messages. */
  describeExit(): string {
    const how = this.spawnError !== null ? `failed to start (${this.spawnError.message})`
      : this.proc.signalCode !== null ? `was killed by ${this.proc.signalCode}` : `exited with code ${this.proc.exitCode}`;
    const tail = this.tail.trim();
    return `${this.name} ${how}${tail === '' ? '' : `; stderr:\n${tail}`}`;
  }
}

export interface RunResult {
  readonly stdout: string;
  readonly code: number | null;
}

export class Processes {
  private readonly live = new Set<Child>();

  start(name: string, command: string, args: readonly string[], opts: StartOptions): Child {
    const [cmd, argv] = opts.cpu === null ? [command, args] : ['taskset', ['-c', String(opts.cpu), command, ...args]];
    const proc = spawn(cmd, argv, {
      stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const child = new Child(name, proc);
    this.live.add(child);
    void child.exited.then(() => this.live.delete(child));
    return child;
  }

  /** Runs a command to completion (a load generator) and returns its stdout; killed past timeoutMs. */
  async run(name: string, command: string, args: readonly string[], opts: StartOptions, timeoutMs: number): Promise<RunResult> {
    const child = this.start(name, command, args, { ...opts, stdout: 'pipe' });
    let stdout = '';
    child.proc.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), timeoutMs);
    // 'close', not 'exit': the last stdout chunk (the result line) may arrive after 'exit'.
    await new Promise<void>((resolve) => {
      child.proc.once('close', () => resolve());
      // A command that could not start has no 'close' to wait for.
      void child.exited.then(() => { if (child.spawnFailed) resolve(); });
    });
    await child.exited;
    clearTimeout(timer);
    if (child.proc.signalCode === 'SIGKILL') throw new Error(`${name} ran past its ${timeoutMs} ms limit and was killed`);
    if (child.proc.exitCode !== 0) throw new Error(child.describeExit());
    return { stdout, code: child.proc.exitCode };
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stop(child: Child, graceMs = 5_000): Promise<void> {
    if (!child.running) return;
    child.proc.kill('SIGTERM');
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
    await child.exited;
    clearTimeout(timer);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((c) => this.stop(c)));
  }

  /** Last resort from a synchronous 'exit' handler: nothing can be awaited there. */
  killAllNow(): void {
    for (const c of this.live) if (c.running) c.proc.kill('SIGKILL');
  }
}

/** Resolves with the first stdout line `parse` accepts; rejects when the child exits first or on timeout. */
export function waitForLine<T>(child: Child, parse: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
  const stdout = child.proc.stdout;
  if (stdout === null) return Promise.reject(new Error(`${child.name}: stdout is not a pipe`));
  return new Promise<T>((resolve, reject) => {
    const rl = createInterface({ input: stdout });
    const finish = (err: Error | null, value?: T) => {
      clearTimeout(timer);
      rl.close();
      // Keep draining: a child blocked on a full stdout pipe would stall the benchmark.
      stdout.resume();
      if (err !== null) reject(err);
      else resolve(value as T);
    };
    const timer = setTimeout(() => finish(new Error(`${child.name} was not ready within ${timeoutMs} ms`)), timeoutMs);
    rl.on('line', (line) => {
      const v = parse(line);
      if (v !== undefined) finish(null, v);
    });
    void child.exited.then(() => finish(new Error(child.describeExit())));
  });
}

/** The {"port":N} line every bench child server prints once bound. */
export function portLine(line: string): number | undefined {
  if (!line.startsWith('{')) return undefined;
  const port = (JSON.parse(line) as { port?: unknown }).port;
  return typeof port === 'number' ? port : undefined;
}

const CLK_TCK = clockTicks();

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** User + system CPU seconds of a process and all its descendants (nginx's worker is the master's child). */
export function cpuSeconds(pid: number): number {
  const parents = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const p = Number(entry);
    if (!Number.isInteger(p)) continue;
    const stat = readStat(p);
    if (stat === null) continue;
    ticks.set(p, stat.ticks);
    const siblings = parents.get(stat.ppid);
    if (siblings === undefined) parents.set(stat.ppid, [p]);
    else siblings.push(p);
  }
  let total = 0;
  const todo = [pid];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    total += ticks.get(p) ?? 0;
    todo.push(...(parents.get(p) ?? []));
  }
  return total / CLK_TCK;
}

function readStat(pid: number): { ppid: number; ticks: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;   // exited between readdir and read
  }
  // proc(5): the command name may hold spaces and parentheses; the fields after it are fixed.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}

export interface CoreTimes {
  readonly userSystem: number;   // seconds in user + nice + system mode, whoever ran
  readonly steal: number;        // seconds the hypervisor ran something else
}

/** One CPU's counters from /proc/stat: what else ran on the proxy's CPU during a run. */
export function coreTimes(cpu: number): CoreTimes {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (line === undefined) throw new Error(`no cpu${cpu} line in /proc/stat`);
  // proc(5): user nice system idle iowait irq softirq steal ...
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return { userSystem: ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0)) / CLK_TCK, steal: (f[7] ?? 0) / CLK_TCK };
}

/** Resident set size (VmRSS) in bytes. */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  if (line === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(line.replace(/[^0-9]/g, '')) * 1024;
}
