// No orphans when Outrider itself is SIGKILLed: the runtimes it started die with it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { findSetpriv } from '../../runtime/process/spawn.ts';
import { FIXTURES, isAlive, killQuietly, waitFor } from './harness.ts';

async function killParentOf(t: { after: (fn: () => void) => void }, guard: 'setpriv' | 'keeper') {
  const dir = mkdtempSync(join(tmpdir(), 'outrider-orphan-'));
  const pidFile = join(dir, 'pids');
  const parent = spawn(process.execPath, [join(FIXTURES, 'orphan-parent.ts'), guard, pidFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  let pids: number[] = [];
  t.after(() => {
    killQuietly(parent.pid);
    for (const pid of pids) killQuietly(pid);
    rmSync(dir, { recursive: true, force: true });
  });
  const lines = createInterface({ input: parent.stdout! });
  const [line] = await Promise.race([
    once(lines, 'line') as Promise<[string]>,
    once(parent, 'exit').then(() => { throw new Error('the parent exited before its runtime was ready'); }),
  ]);
  assert.match(line, /^READY /);
  const status = JSON.parse(line.slice('READY '.length));
  pids = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
  assert.equal(pids.length, 2);
  const [runtimePid, grandchildPid] = pids as [number, number];
  assert.equal(status.pid, runtimePid, 'status() shows the runtime command itself');
  assert.ok(isAlive(runtimePid) && isAlive(grandchildPid));

  const killedAt = Date.now();
  parent.kill('SIGKILL');
  await once(parent, 'exit');
  await waitFor('the runtime to die with its parent', () => !isAlive(runtimePid), 3000);
  return { runtimePid, grandchildPid, tookMs: Date.now() - killedAt };
}

test('setpriv --pdeathsig: the runtime dies when its parent is SIGKILLed', async (t) => {
  if ((await findSetpriv()) === null) {
    t.skip('setpriv with --pdeathsig is not installed here');
    return;
  }
  const { tookMs } = await killParentOf(t, 'setpriv');
  t.diagnostic(`runtime gone ${tookMs}ms after the parent's SIGKILL`);
});

test('keeper: the runtime and everything in its process group die when the parent is SIGKILLed', async (t) => {
  const { grandchildPid, tookMs } = await killParentOf(t, 'keeper');
  await waitFor('the grandchild to die with the group', () => !isAlive(grandchildPid), 3000);
  t.diagnostic(`runtime gone ${tookMs}ms after the parent's SIGKILL`);
});
