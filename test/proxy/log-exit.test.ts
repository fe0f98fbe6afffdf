// Log lines written just before the process exits must all reach stdout, including the buffer
// still being gathered and the chunk that may be being written asynchronously at that moment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOG_MODULE, jsonLinesAfterStall } from '../helpers/stalled-stdout.ts';

const LINES = 3000;

/**
 * A child logs LINES lines (after `before`) and then runs `exit`, while nothing of its stdout
 * is read for 500 ms: the pipe fills, so writes are still pending when exit comes. Returns the
 * `i` of every line that came out, in order.
 */
async function linesThroughExit(before: string, exit: string): Promise<number[]> {
  const script = `
    ${before}
    const { createLogger } = await import(${JSON.stringify(LOG_MODULE)});
    const log = createLogger('info');
    for (let i = 0; i < ${LINES}; i++) log.info({ i, pad: 'x'.repeat(80) }, 'line');
    ${exit}
  `;
  return (await jsonLinesAfterStall<{ i: number }>(script, 500)).map((l) => l.i);
}

const ALL = Array.from({ length: LINES }, (_, i) => i);

test('every line logged before process.exit reaches stdout', async () => {
  assert.deepEqual(await linesThroughExit('', 'process.exit(0);'), ALL, 'in order, none lost or repeated');
});

test('every line reaches stdout at exit also when stdout is non-blocking and a write waits to be retried', async () => {
  // Touching process.stdout makes a pipe non-blocking: a full pipe then answers EAGAIN, and the
  // writer retries on a timer; exit comes while it waits.
  const seen = await linesThroughExit('void process.stdout.writableLength;', 'setTimeout(() => process.exit(0), 100);');
  assert.deepEqual(seen, ALL, 'in order, none lost or repeated');
});
