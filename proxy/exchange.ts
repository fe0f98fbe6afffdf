// One upstream exchange driven through undici's dispatch() with a handler of Outrider's own,
// instead of undici's request().
//
// Why not request(): its RequestHandler allocates a capturing closure per request when the
// request is written (`this.abort = (reason) => controller.abort(reason)`), and with it about a
// fifth of everything a forwarded request allocates was still reachable at the next scavenge,
// was promoted and freed only by the next mark-compact: 7 MB copied per scavenge, 25 ms mean and
// 55 ms worst pauses at 2,000 req/s. The same load through this handler, with small request
// bodies sent as a buffer (see forward.ts), survives at under 1% with pauses near 1 ms
// (`node bench/gc/survival.ts`, docs/traffic.md). So nothing here allocates a closure per
// request: the handler's methods are on its prototype and the cancel listener is bound once.
import { Readable } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Cancel } from './context.ts';

export interface ExchangeHead {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
}

const EMPTY = Buffer.alloc(0);
/** Bytes of an answer held before anything asked for its stream; past this the upstream is paused until a reader comes. */
const PENDING_MAX_BYTES = 64 * 1024;

/**
 * The response body: a Readable with backpressure onto the upstream connection (pause when the
 * consumer lags, resume on read) whose destroy() aborts the exchange. dump() reads a small,
 * prompt rest to its end so that the keep-alive connection goes back to the pool, as undici's
 * body does (pipeline.ts discardReply).
 */
export class UpstreamBody extends Readable {
  #exchange: Exchange;
  ended = false;
  /**
   * With a copy asked for (ctx.copyReplyUpTo > 0: the shadow's comparison), the whole body once
   * it has passed, or null when it was over the cap or cut short; null when none was asked for.
   * Taken as undici hands each chunk over, so the client's body is this same stream with no
   * Transform between the upstream and the client.
   */
  readonly copied: Promise<Buffer | null> | null;
  #copy: { chunks: Buffer[]; size: number; over: boolean; readonly cap: number; done: (b: Buffer | null) => void } | null = null;

  constructor(exchange: Exchange, copyUpTo: number) {
    super();
    this.#exchange = exchange;
    if (copyUpTo <= 0) {
      this.copied = null;
      return;
    }
    this.copied = new Promise((resolve) => {
      this.#copy = { chunks: [], size: 0, over: false, cap: copyUpTo, done: resolve };
    });
    // Cut short (an upstream error, the client gone): closed without a complete end.
    this.once('close', () => this.endCopy(false));
  }

  /** A chunk from undici, before it is pushed. */
  record(chunk: Buffer): void {
    const c = this.#copy;
    if (c === null || c.over) return;
    c.size += chunk.length;
    if (c.size > c.cap) {
      c.over = true;
      c.chunks = [];
    } else {
      c.chunks.push(chunk);
    }
  }

  endCopy(complete: boolean): void {
    const c = this.#copy;
    if (c === null) return;
    this.#copy = null;
    c.done(complete && !c.over ? Buffer.concat(c.chunks, c.size) : null);
  }

  /** Arrived whole with nothing read yet: every byte is in the buffer, the connection is back in the pool. */
  get arrivedWhole(): boolean {
    return this.ended && !this.destroyed && this.readableFlowing === null;
  }

  override _read(): void {
    this.#exchange.controller?.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.ended) this.#exchange.abort(err ?? new Error('the upstream body was destroyed before its end'));
    callback(err);
  }

  /**
   * Reads and drops the rest: up to `limit` bytes within `timeoutMs`, else destroys (closing the
   * connection). A body that has already arrived whole is dropped at once, with no timer: a
   * failing shadow or a retried 503 does this for every request.
   */
  dump(opts: { limit: number; timeoutMs: number }): Promise<void> {
    return new Promise((resolve) => {
      if (this.destroyed || this.readableEnded) return resolve();
      if (this.arrivedWhole) {
        this.once('close', () => resolve());
        this.resume();
        return;
      }
      let size = 0;
      const stop = (): void => {
        this.destroy();
      };
      const timer = setTimeout(stop, opts.timeoutMs);
      timer.unref();
      this.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.limit) stop();
      });
      this.on('error', () => undefined);
      this.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * The dispatch handler of one attempt; `head` settles with the response head or the attempt's
 * failure. The body is then taken with takeBody(): one Buffer when it arrived whole with its head
 * (a small answer usually does), else a stream fed what came first.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | null = null;
  readonly head: Promise<ExchangeHead>;
  #resolve!: (head: ExchangeHead) => void;
  #reject!: (err: unknown) => void;
  #headSeen = false;
  /** The body's stream, once takeBody() made it (at the head when a copy is asked for). */
  #body: UpstreamBody | null = null;
  /** Chunks that came before any stream was asked for. */
  #chunks: Buffer[] | null = null;
  #size = 0;
  #ended = false;
  #error: Error | null = null;
  #reason: unknown = null;
  readonly #cancel: Cancel;
  readonly #onCancel: () => void;
  readonly #copyUpTo: number;

  constructor(cancel: Cancel, copyUpTo = 0) {
    this.#copyUpTo = copyUpTo;
    this.head = new Promise<ExchangeHead>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#cancel = cancel;
    this.#onCancel = this.cancelled.bind(this);
    if (cancel.aborted) this.#reason = cancel.reason;
    else cancel.addEventListener('abort', this.#onCancel);
  }

  /**
   * Ends the exchange with `reason`: before the head, the attempt fails with it at once (also
   * while it still waits in the pool for a connection, which is aborted when it starts); after,
   * the body errors with it.
   */
  abort(reason: unknown): void {
    this.#reason ??= reason;
    if (!this.#headSeen) this.#reject(reason);
    this.controller?.abort(reason as Error);
  }

  /**
   * The body, taken once after the head: the whole Buffer when it has all arrived and no stream
   * was made (a small answer usually comes with its head; then nothing of a Readable is made: its
   * state, buffer list, push/read and destroy cost ~1 µs and ~1 KB per forwarded request, and the
   * connection is already back in the pool), else the stream, fed what already came.
   *
   * Throws the failure that came after the head and before this call when no stream was made at
   * the head (none is, unless a copy was asked for): the attempt then fails (forward(); a
   * cancel's reason wins there) instead of answering with a stream already destroyed. undici
   * reports an upstream's own faults a turn later (through the socket's error and close), so
   * this is in practice a cancel (client gone, deadline) between the head and this call. With a
   * copy's stream, such a failure errors that stream.
   */
  takeBody(): Buffer | UpstreamBody {
    if (this.#body !== null) return this.#body;
    if (this.#error !== null) throw this.#error;
    const c = this.#chunks;
    this.#chunks = null;
    if (this.#ended) return c === null ? EMPTY : c.length === 1 ? c[0]! : Buffer.concat(c, this.#size);
    const b = this.#body = new UpstreamBody(this, 0);
    if (c !== null) for (const chunk of c) b.push(chunk);
    return b;
  }

  private cancelled(): void {
    this.abort(this.#cancel.reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.#reason !== null) controller.abort(this.#reason as Error);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return;   // 1xx: the final head follows
    this.#headSeen = true;
    // A copy is taken as chunks pass into the stream: that stream is there from the start.
    if (this.#copyUpTo > 0) this.#body = new UpstreamBody(this, this.#copyUpTo);
    this.#resolve({ statusCode, headers });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const body = this.#body;
    if (body !== null) {
      if (body.copied !== null) body.record(chunk);
      if (!body.push(chunk)) controller.pause();
      return;
    }
    if (!this.#headSeen) return;
    (this.#chunks ??= []).push(chunk);
    this.#size += chunk.length;
    // Nobody reads yet: the stream's first read resumes it (UpstreamBody._read).
    if (this.#size >= PENDING_MAX_BYTES) controller.pause();
  }

  onResponseEnd(): void {
    this.release();
    this.#ended = true;
    const body = this.#body;
    if (body === null) return;
    body.ended = true;
    body.endCopy(true);
    body.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.release();
    if (!this.#headSeen) {
      this.#reject(err);
      return;
    }
    const body = this.#body;
    if (body === null) {
      this.#error = err;
      this.#chunks = null;
    } else if (!body.destroyed) {
      body.ended = true;
      body.destroy(err);
    }
  }

  private release(): void {
    this.#cancel.removeEventListener('abort', this.#onCancel);
  }
}
