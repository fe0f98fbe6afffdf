// The log's writer (proxy/telemetry/log.ts LineWriter): lines keep their order through a stdout
// that stalls, and while it stalls what waits is bounded: past the bound new lines are dropped,
// and once stdout takes lines again one warn line says how many.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { LOG_MODULE as logModule, jsonLinesAfterStall } from '../helpers/stalled-stdout.ts';

interface Line { i?: number; msg: string; dropped?: number; level: number }

const runChild = (script: string, pauseMs: number): Promise<Line[]> => jsonLinesAfterStall<Line>(script, pauseMs);

test('a stalled stdout holds at most 32 MiB of lines; the rest are dropped, counted, and said once it drains', async () => {
  // ~48 MiB of lines while nobody reads; then the parent reads and the child waits for its writer.
  const lines = 48 * 1024;
  const script = `
    const { createLogger } = await import(${JSON.stringify(logModule)});
    const log = createLogger('info');
    const pad = 'x'.repeat(1000);
    for (let i = 0; i < ${lines}; i++) log.info({ i, pad }, 'line');
    setTimeout(() => process.exit(0), 2500);
  `;
  const out = await runChild(script, 800);
  const seen = out.filter((l) => l.msg === 'line').map((l) => l.i!);
  const warn = out.filter((l) => l.msg.startsWith('log lines dropped'));
  assert.ok(seen.length < lines, 'some lines were dropped while stdout stalled');
  assert.ok(seen.length * 1050 >= 28 * 1024 * 1024, `about 32 MiB of lines were kept (${seen.length})`);
  for (let k = 1; k < seen.length; k++) assert.ok(seen[k]! > seen[k - 1]!, 'in order, none repeated');
  assert.deepEqual(seen.slice(0, 100), Array.from({ length: 100 }, (_, i) => i), 'the oldest lines are kept');
  assert.equal(warn.length, 1, 'one warn line');
  assert.equal(warn[0]!.level, 40);
  assert.equal(warn[0]!.dropped, lines - seen.length, 'it counts exactly the lines that are missing');
});

test('lines of every size, ASCII or not, come out whole and in order', async () => {
  const script = `
    const { createLogger } = await import(${JSON.stringify(logModule)});
    const log = createLogger('info');
    const sizes = [0, 1, 100, 21000, 22000, 70000, 200000, 5, 64 * 1024];
    let i = 0;
    for (let round = 0; round < 20; round++) for (const n of sizes) log.info({ i: i++, pad: (round % 2 ? 'é€' : 'ab').repeat(n / 2) }, 'line');
    process.exit(0);
  `;
  const out = await runChild(script, 200);
  assert.equal(out.length, 180);
  out.forEach((l, k) => assert.equal(l.i, k));
});

test('a stalled stdout flushed often (a trickle of traffic) holds whole buffers, not one per flush', async () => {
  const report = path.join(os.tmpdir(), `outrider-log-writer-${process.pid}.json`);
  const script = `
    const { LineWriter } = await import(${JSON.stringify(logModule)});
    const { writeFileSync } = await import('node:fs');
    const w = new LineWriter(1);
    const before = process.memoryUsage().arrayBuffers;
    // 20,000 flushes of one short line each while nobody reads: the periodic flush at a trickle.
    for (let i = 0; i < 20000; i++) { w.write(JSON.stringify({ i, msg: 'line' }) + '\\n'); w.flush(); }
    writeFileSync(${JSON.stringify(report)}, JSON.stringify({ grownBytes: process.memoryUsage().arrayBuffers - before }));
    // drain() hands over what the last write left behind, then exit.
    setTimeout(async () => { await w.drain(2000); process.exit(0); }, 1500);
  `;
  const out = await runChild(script, 800);
  const { grownBytes } = JSON.parse(readFileSync(report, 'utf8')) as { grownBytes: number };
  rmSync(report, { force: true });
  assert.ok(grownBytes < 4 * 1024 * 1024, `buffers held while stalled: ${grownBytes} bytes`);
  const seen = out.map((l) => l.i!);
  assert.deepEqual(seen, Array.from({ length: 20000 }, (_, i) => i), 'every line, in order');
});
