// What both runtime kinds do with a child process: wait for its exit, escalate signals
// until it is gone, turn its output into log lines, and say why it ended.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

export function hasExited(child: ChildProcess): boolean {
  // No pid: the spawn itself failed and no 'exit' will ever come.
  return child.pid === undefined || child.exitCode !== null || child.signalCode !== null;
}

/** true once the child has exited; false when `ms` passed first. */
export function waitForExit(child: ChildProcess, ms = Infinity): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const onExit = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
    if (Number.isFinite(ms)) {
      timer = setTimeout(() => {
        child.off('exit', onExit);
        resolve(false);
      }, ms);
    }
  });
}

export interface TerminationStep {
  readonly send: () => void;
  /** How long to wait for the exit before the next step; Infinity on the last one. */
  readonly wait: number;
}

/** Each step's signal in turn until the child exits; resolves once it has. */
export async function terminate(child: ChildProcess, steps: readonly TerminationStep[]): Promise<void> {
  for (const step of steps) {
    if (hasExited(child)) return;
    try {
      step.send();
    } catch {
      // The gentler step was not deliverable (IPC channel already closed): go on to the next.
    }
    if (await waitForExit(child, step.wait)) return;
  }
  await waitForExit(child);
}

/** kill() that tolerates a process (or group, for negative pids) that is already gone. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `killed by ${signal}` : `exited with code ${code ?? 'unknown'}`;
}

/** Calls onLine for each line of the stream; a partial last line is delivered at end. */
function eachLine(stream: Readable, onLine: (line: string) => void): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', onLine);
  // An unhandled pipe error would take Outrider down with the child.
  stream.on('error', () => lines.close());
}

/** After the exit, how long to wait for the rest of stderr (the likely cause of the exit). */
const STDERR_TAIL_MS = 100;
/** A stderr line this close to the exit likely says why; an older one likely does not. */
const STDERR_RECENT_MS = 2000;

/**
 * A child's last stderr line, as the likely cause of an exit. The exit is reported at once
 * (out of rotation without waiting); a line still in the pipe then arrives as explain().
 */
export class StderrTail {
  private readonly stream: Readable | null;
  private last: { readonly line: string; readonly at: number } | null = null;

  constructor(stream: Readable | null) {
    this.stream = stream;
  }

  saw(line: string): void {
    this.last = { line, at: Date.now() };
  }

  /** Signals the exit with `reason` plus any recent stderr line, then a late line through `explain`. */
  async report(reason: string, exited: (reason: string) => void, explain: (detail: string) => void): Promise<void> {
    const known = this.last;
    exited(known !== null && Date.now() - known.at < STDERR_RECENT_MS ? `${reason} (stderr: ${known.line})` : reason);
    const stream = this.stream;
    if (stream === null || stream.closed) return;
    await Promise.race([once(stream, 'close').catch(() => undefined), sleep(STDERR_TAIL_MS)]);
    if (this.last !== null && this.last !== known) explain(`stderr: ${this.last.line}`);
  }
}

/** Every line of the child's stdout and stderr to `log`; the returned tail explains its exit. */
export function pipeOutput(child: ChildProcess, log: (stream: 'stdout' | 'stderr', line: string) => void): StderrTail {
  const tail = new StderrTail(child.stderr);
  if (child.stdout !== null) eachLine(child.stdout, (line) => log('stdout', line));
  if (child.stderr !== null) {
    eachLine(child.stderr, (line) => {
      tail.saw(line);
      log('stderr', line);
    });
  }
  return tail;
}
