// JSON logs with pino: one access-log line per request, and the process's own events.
import { write as fsWrite, writeSync } from 'node:fs';
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** Bytes gathered before one write(2); a buffer of this size is reused batch after batch. */
const CHUNK_BYTES = 64 * 1024;
/** Bounded staleness: lines reach stdout within this many ms even at a trickle of traffic. */
const FLUSH_EVERY_MS = 200;
/** Lines waiting for a stalled stdout (a full pipe nobody reads) are bounded: past this, new lines are dropped and counted. */
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** How long a write that would block (EAGAIN on a non-blocking stdout) waits before it is tried again. */
const RETRY_MS = 10;
/** At exit, how long a stdout that keeps answering EAGAIN is waited for, in all. */
const EXIT_WAIT_MS = 5_000;
const STDOUT = 1;

/** Bytes of a chunk written so far; `end` is where its lines stop. */
interface Chunk {
  readonly buf: Buffer;
  start: number;
  readonly end: number;
}

/**
 * Log lines, encoded straight into a reused buffer and handed to the file descriptor one chunk at
 * a time with fs.write. Through SonicBoom each 32 KiB batch was a joined string, measured, encoded
 * for the write and encoded again after it (to cut what was written off the front): about 2 µs
 * of the proxy's CPU per access-log line under load, where a bare forwarder spends ~34 µs on the
 * whole request. Here a line costs one UTF-8 encode into memory that is reused, and one write(2)
 * goes out per 64 KiB. Order is kept; at exit everything not yet handed to the kernel is written
 * synchronously.
 */
export class LineWriter {
  private readonly fd: number;
  private buf: Buffer;
  private used = 0;
  /**
   * Chunks waiting for the kernel, oldest first. While it is not empty a write is going:
   * queue[0] is being written, or waits to be retried after EAGAIN.
   */
  private readonly queue: Chunk[] = [];
  /** Memory the queue holds (whole buffers, not only their used bytes). */
  private queuedBytes = 0;
  /** An fs.write is in flight right now (not a retry waiting on its timer). */
  private inFlight = false;
  /** An emptied buffer, reused: with a prompt stdout two buffers serve for ever. */
  private spare: Buffer | null = null;
  /** stdout failed for good (closed, EPIPE): lines are dropped from then on. */
  private failed = false;
  /** Lines dropped because stdout stalled past MAX_QUEUED_BYTES, not yet reported. */
  private dropped = 0;
  private drained: (() => void)[] = [];
  private readonly onWritten: (err: NodeJS.ErrnoException | null, n: number) => void;
  private readonly retry: () => void;

  constructor(fd: number) {
    this.fd = fd;
    this.buf = Buffer.allocUnsafeSlow(CHUNK_BYTES);
    this.onWritten = (err, n) => this.written(err, n);
    this.retry = () => this.writeNext();
  }

  /** One whole line (with its newline). Returns true, as a stream's write would with room left. */
  write(line: string): boolean {
    if (this.failed) return true;
    // The UTF-8 of a JavaScript string is at most 3 bytes per UTF-16 unit.
    if (CHUNK_BYTES - this.used < line.length * 3) {
      this.rotate();
      if (line.length * 3 > CHUNK_BYTES) {
        this.enqueue(Buffer.from(line, 'utf8'));
        return true;
      }
    }
    this.used += this.buf.write(line, this.used, 'utf8');
    return true;
  }

  /**
   * Hands what is gathered to the kernel, unless a write is still going: then the lines stay in
   * the buffer for a later flush (or until it is full). A stalled stdout so never holds more than
   * full buffers, however often this is called.
   */
  flush(): void {
    if (this.queue.length > 0 || this.used === 0) return;
    this.rotate();
  }

  /** Resolves once everything gathered so far has been handed to the kernel, or after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void> {
    this.flush();
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.drained.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The buffer being filled goes to the queue, and a fresh one takes its place. */
  private rotate(): void {
    if (this.used === 0) return;
    const full = this.buf;
    const end = this.used;
    this.buf = this.spare ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
    this.spare = null;
    this.used = 0;
    this.enqueue(full, end);
  }

  private enqueue(buf: Buffer, end = buf.length): void {
    if (this.failed) return;
    if (this.queuedBytes + buf.length > MAX_QUEUED_BYTES) {
      // stdout has not taken anything for a while: losing lines beats holding the proxy's memory.
      this.dropped += countLines(buf, end);
      if (buf.length === CHUNK_BYTES && this.spare === null) this.spare = buf;
      return;
    }
    this.queue.push({ buf, start: 0, end });
    this.queuedBytes += buf.length;
    if (this.queue.length === 1) this.writeNext();
  }

  private writeNext(): void {
    const c = this.queue[0];
    if (c === undefined) return;
    this.inFlight = true;
    fsWrite(this.fd, c.buf, c.start, c.end - c.start, null, this.onWritten);
  }

  private written(err: NodeJS.ErrnoException | null, n: number): void {
    this.inFlight = false;
    const c = this.queue[0]!;
    if (err !== null) {
      if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK' || err.code === 'EINTR') {
        setTimeout(this.retry, RETRY_MS).unref();
        return;
      }
      // EPIPE, EBADF: nobody will read these lines; the proxy goes on without its log.
      this.failed = true;
      this.queue.length = 0;
      this.queuedBytes = 0;
      this.notifyDrained();
      return;
    }
    c.start += n;
    if (c.start < c.end) {
      this.writeNext();
      return;
    }
    this.queue.shift();
    this.queuedBytes -= c.buf.length;
    if (c.buf.length === CHUNK_BYTES) this.spare = c.buf;
    if (this.queue.length > 0) {
      this.writeNext();
      return;
    }
    if (this.dropped > 0) this.reportDropped();
    // The lines gathered while that write went on wait for the next flush (the buffer full, or
    // the 200 ms tick): written at once, a busy proxy would make a write(2) per few lines. Only
    // a drain() waiting for them hands them over now.
    if (this.drained.length === 0) return;
    this.rotate();
    if (this.queue.length === 0) this.notifyDrained();
  }

  private notifyDrained(): void {
    const waiting = this.drained;
    if (waiting.length === 0) return;
    this.drained = [];
    for (const fn of waiting) fn();
  }

  /** Said once stdout takes lines again, as a warn line of its own. */
  private reportDropped(): void {
    const n = this.dropped;
    this.dropped = 0;
    this.write(`{"level":40,"time":${Date.now()},"svc":"outrider","dropped":${n},"msg":"log lines dropped: stdout did not take them"}\n`);
  }

  /**
   * At exit: the chunks not yet handed to the kernel, and the lines being gathered, are written
   * synchronously, in order. A chunk whose fs.write is in flight is left to it (writing it again
   * would repeat its lines); one waiting to be retried after EAGAIN is written here. stop()
   * drains the writer first (drainLog), so at a normal exit nothing is in flight.
   */
  flushSync(): void {
    this.rotate();
    const waitUntil = performance.now() + EXIT_WAIT_MS;
    const first = this.inFlight ? 1 : 0;
    for (let i = first; i < this.queue.length && !this.failed; i++) {
      const c = this.queue[i]!;
      while (c.start < c.end) {
        try {
          c.start += writeSync(this.fd, c.buf, c.start, c.end - c.start);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if ((code !== 'EAGAIN' && code !== 'EWOULDBLOCK') || performance.now() > waitUntil) return;
          Atomics.wait(SLEEPER, 0, 0, 1);
        }
      }
    }
    this.queue.length = first;
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

function countLines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1 && i < end; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

const writers = new WeakMap<Logger, LineWriter>();

/**
 * Where a logger made by createLogger takes whole info-level lines (the access log's, see
 * access-log.ts), dropped while its level is above info; null for another logger.
 */
export function lineSink(logger: Logger): ((line: string) => void) | null {
  const writer = writers.get(logger);
  if (writer === undefined) return null;
  return (line) => {
    if (logger.isLevelEnabled('info')) writer.write(line);
  };
}

/** Waits (at most `timeoutMs`) until the lines a logger made by createLogger has gathered are written. */
export function drainLog(logger: Logger, timeoutMs: number): Promise<void> {
  return writers.get(logger)?.drain(timeoutMs) ?? Promise.resolve();
}

export function createLogger(level: string): Logger {
  // Asynchronous stdout (an access-log line must not cost a write(2) on the request path).
  const writer = new LineWriter(STDOUT);
  // Epoch milliseconds: formatting an ISO date per line cost ~2% of the CPU under load.
  const logger = pino({ level, base: { svc: 'outrider' }, timestamp: pino.stdTimeFunctions.epochTime }, writer);
  writers.set(logger, writer);
  process.once('exit', () => {
    try { writer.flushSync(); } catch { /* stdout already gone */ }
  });
  setInterval(() => writer.flush(), FLUSH_EVERY_MS).unref();
  return logger;
}
