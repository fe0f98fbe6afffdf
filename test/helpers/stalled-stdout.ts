// A child Node process whose stdout nobody reads for a while (its pipe fills, its writes wait),
// then is read to the end: for the log writer's tests (proxy/telemetry/log.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

/** The log module, for a child's script to import. */
export const LOG_MODULE = path.resolve(import.meta.dirname, '../../proxy/telemetry/log.ts');

/**
 * Runs `script` (an ES module) in a child, reads nothing of its stdout for `pauseMs`, then all
 * of it; the child must exit 0. Returns its stdout's JSON lines, parsed, in order.
 */
export async function jsonLinesAfterStall<T>(script: string, pauseMs: number): Promise<T[]> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout.pause();
  setTimeout(() => child.stdout.on('data', (d: Buffer) => chunks.push(d)).resume(), pauseMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  return Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}
