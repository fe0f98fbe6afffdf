// Keeps a `kind: process` runtime from outliving Outrider where setpriv (PR_SET_PDEATHSIG)
// is missing. Forked as the leader of its own process group with an IPC channel to
// Outrider: that channel closes when Outrider dies, even by SIGKILL, and the keeper then
// kills the whole group. Usage: keeper.ts <command> [args...]
import { spawn } from 'node:child_process';

const [file, ...args] = process.argv.slice(2);
if (process.send === undefined || file === undefined) {
  process.stderr.write('outrider keeper: must be started by Outrider with an IPC channel and a command\n');
  process.exit(2);
}
const send: NonNullable<typeof process.send> = process.send.bind(process);

// Outrider signals the whole group: the command receives SIGTERM itself and the keeper
// stays to report how it ended.
process.on('SIGTERM', () => {});
process.on('disconnect', () => process.kill(-process.pid, 'SIGKILL'));

const child = spawn(file, args, { stdio: ['ignore', 'inherit', 'inherit'] });
child.on('spawn', () => send({ type: 'spawned', pid: child.pid }));
child.on('error', (err) => finish({ type: 'error', message: err.message }, 127));
child.on('exit', (code, signal) => finish({ type: 'exit', code, signal }, code ?? 1));

function finish(message: object, exitCode: number): void {
  if (process.connected) send(message, () => process.exit(exitCode));
  else process.exit(exitCode);
}
