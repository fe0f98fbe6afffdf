// JSON logs with pino: one access-log line per request, and the process's own events.
import { writeSync } from 'node:fs';
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** Bytes (UTF-16 units, close enough for a threshold) of log lines gathered before one write. */
const BATCH_CHARS = 32 * 1024;
/** Bounded staleness: lines reach stdout within this many ms even at a trickle of traffic. */
const FLUSH_EVERY_MS = 200;
const STDOUT = 1;

/**
 * Gathers pino's lines and hands them to the file descriptor 32 KiB at a time. SonicBoom's own
 * buffering appends each line to one growing string and measures that string's UTF-8 length on
 * every write, which is quadratic in the batch: profiled at ~14 µs per access-log line at a 32 KiB
 * batch, more than the rest of the request's JavaScript. Here a line costs an array push.
 */
class LineBatch {
  private parts: string[] = [];
  private chars = 0;
  private readonly dest: ReturnType<typeof pino.destination>;
  constructor(dest: ReturnType<typeof pino.destination>) {
    this.dest = dest;
  }

  write(line: string): boolean {
    this.parts.push(line);
    this.chars += line.length;
    if (this.chars >= BATCH_CHARS) this.flush();
    return true;
  }

  flush(): void {
    if (this.parts.length === 0) return;
    const text = this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.parts = [];
    this.chars = 0;
    this.dest.write(text);
  }

  /**
   * At exit: what SonicBoom holds goes out synchronously, then this batch's lines are written
   * directly. Handing them to `dest.write` here would start an asynchronous write that
   * `flushSync` skips (it leaves a write in flight alone) and that exit never waits for.
   */
  flushSync(fd: number): void {
    const text = this.parts.join('');
    this.parts = [];
    this.chars = 0;
    try { this.dest.flushSync(); } catch { /* not open yet, or a write in flight */ }
    let buf = Buffer.from(text, 'utf8');
    for (let spins = 0; buf.length > 0 && spins < 1000; spins++) {
      try {
        buf = buf.subarray(writeSync(fd, buf));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
    }
  }
}

const batches = new WeakMap<Logger, LineBatch>();

/**
 * Where a logger made by createLogger takes whole info-level lines (the access log's, see
 * access-log.ts), dropped while its level is above info; null for another logger.
 */
export function lineSink(logger: Logger): ((line: string) => void) | null {
  const batch = batches.get(logger);
  if (batch === undefined) return null;
  return (line) => {
    if (logger.isLevelEnabled('info')) batch.write(line);
  };
}

export function createLogger(level: string): Logger {
  // Asynchronous stdout (an access-log line must not cost a write(2) on the request path); the
  // batch above decides when to write, so SonicBoom writes whatever it is handed at once.
  const dest = pino.destination({ dest: STDOUT, sync: false, minLength: 0 });
  const batch = new LineBatch(dest);
  // Epoch milliseconds: formatting an ISO date per line cost ~2% of the CPU under load.
  const logger = pino({ level, base: { svc: 'outrider' }, timestamp: pino.stdTimeFunctions.epochTime }, batch);
  batches.set(logger, batch);
  process.once('exit', () => {
    try { batch.flushSync(STDOUT); } catch { /* stdout already gone */ }
  });
  setInterval(() => {
    try { batch.flush(); } catch { /* closed at exit */ }
  }, FLUSH_EVERY_MS).unref();
  return logger;
}
