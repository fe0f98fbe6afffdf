// Spawning a `kind: process` runtime so that it never outlives Outrider:
//  - each runtime leads its own process group (detached), and stopping it signals the
//    group, so the servers it forks go with it;
//  - if Outrider is SIGKILLed, Linux's parent-death signal kills the runtime
//    (`setpriv --pdeathsig KILL`, util-linux); where setpriv is missing a keeper process
//    (./keeper.ts) watches its IPC channel to Outrider and kills the group when it closes.
//    With setpriv only the runtime's own process gets the signal; servers that fork
//    workers usually have those watch their parent.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { describeExit, signalPid } from '../child.ts';
import { entryPath } from '../entry-path.ts';

export type ParentDeathGuard =
  | { readonly kind: 'setpriv'; readonly setpriv: string }
  | { readonly kind: 'keeper'; readonly nodePath: string; readonly keeper: string };

let setprivLookup: Promise<string | null> | undefined;

/** Absolute path of a setpriv that supports --pdeathsig, looked up once per process. */
export function findSetpriv(): Promise<string | null> {
  setprivLookup ??= locateSetpriv();
  return setprivLookup;
}

async function locateSetpriv(): Promise<string | null> {
  if (process.platform !== 'linux') return null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'setpriv');
    try {
      await access(candidate, constants.X_OK);
    } catch {
      continue;
    }
    // util-linux before 2.33 has no --pdeathsig: try it once rather than parse versions.
    const works = await new Promise<boolean>((resolve) => {
      execFile(candidate, ['--pdeathsig', 'KILL', '--', 'true'], { timeout: 5000 }, (err) => resolve(err === null));
    });
    return works ? candidate : null;
  }
  return null;
}

export async function parentDeathGuard(mode: 'auto' | ParentDeathGuard['kind'], nodePath: string): Promise<ParentDeathGuard> {
  if (mode !== 'keeper') {
    const setpriv = await findSetpriv();
    if (setpriv !== null) return { kind: 'setpriv', setpriv };
    if (mode === 'setpriv') throw new Error('setpriv with --pdeathsig is not available on this machine');
  }
  return { kind: 'keeper', nodePath, keeper: entryPath('./keeper.ts', import.meta.url) };
}

interface KeeperReport {
  readonly type: 'spawned' | 'exit' | 'error';
  readonly pid?: number;
  readonly code?: number | null;
  readonly signal?: NodeJS.Signals | null;
  readonly message?: string;
}

/** A runtime command running as the leader (or, with the keeper, a member) of its own process group. */
export class GuardedProcess {
  /** The process Outrider spawned: the command itself (setpriv execs it) or its keeper. */
  readonly child: ChildProcess;
  private commandPid: number | null;
  /** The keeper's account of how the command ended, which its own exit would hide. */
  private reported: string | null = null;
  private ended = false;

  constructor(command: readonly string[], opts: { readonly cwd: string; readonly env: NodeJS.ProcessEnv }, guard: ParentDeathGuard) {
    if (command.length === 0) throw new Error('the runtime command is empty');
    if (guard.kind === 'setpriv') {
      this.child = spawn(guard.setpriv, ['--pdeathsig', 'KILL', '--', ...command], {
        cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.commandPid = this.child.pid ?? null;
    } else {
      this.child = spawn(guard.nodePath, [guard.keeper, ...command], {
        cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json',
      });
      this.commandPid = null;
      this.child.on('message', (m: KeeperReport) => {
        if (m.type === 'spawned' && typeof m.pid === 'number') this.commandPid = m.pid;
        else if (m.type === 'exit') this.reported = describeExit(m.code ?? null, m.signal ?? null);
        else if (m.type === 'error') this.reported = `could not start: ${m.message}`;
      });
    }
  }

  /** The command's pid (null until the keeper has reported it, and after the exit). */
  get pid(): number | null {
    return this.ended ? null : this.commandPid;
  }

  /** Signal the whole group; no-op once it is gone (its id could name another group by then). */
  signal(signal: NodeJS.Signals): void {
    const leader = this.child.pid;
    if (leader !== undefined && !this.ended) signalPid(-leader, signal);
  }

  /** Called once, when the group leader is gone (its leftovers are killed first). */
  onExit(done: (reason: string) => void): void {
    const finish = (reason: string): void => {
      if (this.ended) return;
      // Whatever the runtime forked would otherwise live on without it.
      this.signal('SIGKILL');
      this.ended = true;
      done(reason);
    };
    this.child.once('exit', (code, signal) => {
      const end = (): void => finish(this.reported ?? describeExit(code, signal));
      // The keeper's last report may still be in the IPC pipe when its exit is seen.
      if (this.child.connected) {
        this.child.once('disconnect', end);
        setTimeout(end, 200).unref();
      } else end();
    });
    this.child.once('error', (err) => {
      if (this.child.pid === undefined) finish(`could not start: ${err.message}`);
    });
  }
}
