// A chaos helper process started by startChild() (./child.ts) gets a pipe on stdin and
// CHAOS_PARENT_WATCH=1: when that pipe closes, its parent is gone (even by SIGKILL, or a
// scenario cut short), and it exits rather than linger on a loopback port.
export function exitWithParent(): void {
  if (process.env.CHAOS_PARENT_WATCH !== '1') return;
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
