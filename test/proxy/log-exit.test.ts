// Log lines written just before the process exits must all reach stdout, including the batch
// still being gathered and the one SonicBoom may be writing asynchronously at that moment.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const logModule = path.resolve(import.meta.dirname, '../../proxy/telemetry/log.ts');

test('every line logged before process.exit reaches stdout', async () => {
  const lines = 3000;
  const script = `
    const { createLogger } = await import(${JSON.stringify(logModule)});
    const log = createLogger('info');
    for (let i = 0; i < ${lines}; i++) log.info({ i, pad: 'x'.repeat(80) }, 'line');
    process.exit(0);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  // Read nothing for a while: the pipe fills, so writes are still pending when exit comes.
  child.stdout.pause();
  setTimeout(() => child.stdout.on('data', (d: string) => { out += d; }).resume(), 500);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  const seen = out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);
  assert.equal(seen.length, lines);
  assert.deepEqual(seen, Array.from({ length: lines }, (_, i) => i), 'in order, none lost or repeated');
});

test('every line reaches stdout at exit also when stdout is non-blocking and a write waits to be retried', async () => {
  const lines = 3000;
  // Touching process.stdout makes a pipe non-blocking: a full pipe then answers EAGAIN, and the
  // writer retries on a timer; exit comes while it waits.
  const script = `
    void process.stdout.writableLength;
    const { createLogger } = await import(${JSON.stringify(logModule)});
    const log = createLogger('info');
    for (let i = 0; i < ${lines}; i++) log.info({ i, pad: 'x'.repeat(80) }, 'line');
    setTimeout(() => process.exit(0), 100);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.pause();
  setTimeout(() => child.stdout.on('data', (d: string) => { out += d; }).resume(), 500);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  const seen = out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);
  assert.deepEqual(seen, Array.from({ length: lines }, (_, i) => i), 'in order, none lost or repeated');
});
