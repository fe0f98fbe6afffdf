// One context per request (STYLE): id, route, deadline, and the cancellation that
// reaches every layer below, down to the runtime's queue (through x-timeout-ms).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Span } from '@opentelemetry/api';
import { OutriderError } from './errors.ts';
import type { Route } from './routing.ts';

/** Whether the request announces a body (RFC 9112 §6.3: a length other than 0, or chunked). */
export function requestHasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

const EMPTY_BODY = Buffer.alloc(0);

/** Request bodies up to this size, of declared length, are read whole before they are forwarded. */
export const BUFFERED_BODY_MAX_BYTES = 64 * 1024;

/**
 * A body small enough to be read whole first (of known length, at most BUFFERED_BODY_MAX_BYTES):
 * it can then be re-sent after a refused connection, and it goes upstream as one buffer. A
 * streamed body costs the proxy far more in GC (forward.ts); a large or chunked one still streams.
 */
export function smallBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return cl !== undefined && Number(cl) <= BUFFERED_BODY_MAX_BYTES;
}

/**
 * The request's cancellation as the hot path needs it: a flag, a reason and plain listeners.
 * A forwarded request's exchange (exchange.ts) listens here, which costs an array push instead
 * of a Node EventTarget (an AbortController, its AbortSignal, and an event object and listener
 * records per request: ~6 µs and ~1 KB of garbage under load). A real AbortSignal is made only
 * for code that asks for one (ctx.signal).
 */
export class Cancel {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] | null = null;

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const l = this.listeners;
    if (l === null) return;
    const i = l.indexOf(listener);
    if (i !== -1) l.splice(i, 1);
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const l = this.listeners;
    this.listeners = null;
    if (l !== null) for (const fn of l) fn();
  }
}

function fire(ctx: RequestContext): void {
  ctx.onTimer();
}

/**
 * Contexts whose timer is still to be set, and a spare list to swap in. They are looked at once,
 * SWEEP_MS after the first of them asked: those still open get their timer then, and those
 * answered meanwhile (nearly every request) never make one. A Node timer per request, set and
 * cleared, cost a Timeout object, a priority-queue insert and an unenroll: ~0.5 µs of a ~35 µs
 * forwarded request. A deadline nearer than SWEEP_MS gets its timer at once, so none is late.
 */
const SWEEP_MS = 5;
let armList: RequestContext[] = [];
let armSpare: RequestContext[] = [];
let sweepTimer: NodeJS.Timeout | null = null;

function queueArm(ctx: RequestContext): void {
  armList.push(ctx);
  sweepTimer ??= setTimeout(armQueuedTimers, SWEEP_MS);
}

function armQueuedTimers(): void {
  sweepTimer = null;
  const list = armList;
  armList = armSpare;
  for (const ctx of list) ctx.armNow();
  list.length = 0;
  armSpare = list;
}

export class RequestContext {
  readonly id: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The client connection, kept: req.socket is null once undici has consumed and destroyed a streamed body. */
  readonly socket: Socket;
  /** performance.now() at arrival. */
  readonly start: number;
  /** The request target without its query string (the query can carry secrets: never logged). */
  readonly path: string;
  /** Cancellation of everything below: deadline, client gone, body limits, shutdown. */
  readonly cancel = new Cancel();
  private controller: AbortController | null = null;
  route: Route | null = null;
  /** The backend (runtime or upstream name) the current attempt goes to; set by the split, a fallback or a shadow. */
  target: string | null = null;
  /** The whole request body, once a policy needed it (retries, caches, shadows): then every attempt replays it. */
  body: Buffer | null = null;
  /** Attempts made so far (retries count). */
  attempts = 0;
  /** An endpoint id the next pick should avoid when another is ready: the one a retry follows. */
  avoid: string | null = null;
  /**
   * performance.now() past which the primary path starts no attempt and cuts the one in flight:
   * a route with a fallback keeps the rest of the budget for it (SPEC §2 attemptTimeout).
   */
  attemptDeadline = Infinity;
  /** Which fallback rung answered (SPEC §3 x-outrider-degraded). */
  degraded: 'stale-cache' | 'fallback' | 'static' | null = null;
  /** SPEC §3 x-outrider-cache, where a cache applies. */
  cacheStatus: 'hit' | 'miss' | 'coalesced' | 'partial' | 'stale' | null = null;
  /** The response-cache key of this request once the route's cache computed it (the fallback's `cache: stale` reads it). */
  cacheKey: string | null = null;
  /** limits.maxBodyBytes of the table this request started on. */
  maxBodyBytes = Infinity;
  /** The proxy's own warmup request (app.ts), not a client's. */
  warmup = false;
  /** A shadow copy (policies/shadow): not the client's request; analyses of real traffic skip it. */
  shadow = false;
  /** The path (and query) the current attempt sends upstream when not the client's own (policies/split/model-path.ts). */
  upstreamPath: string | null = null;
  /** Bytes of each upstream answer's body to keep a copy of as it passes (0: none; the shadow's comparison, see exchange.ts). */
  copyReplyUpTo = 0;
  /** Extra [name, value, ...] headers every upstream attempt of this context carries (the shadow marker). */
  upstreamHeaders: readonly string[] | null = null;
  private bodyRead: Promise<Buffer> | null = null;
  /** performance.now() after which the request has no budget left. */
  deadline = Infinity;
  /** The backend (runtime or upstream name) that answered, or the last one tried. */
  backend = 'none';
  /** The endpoint id of the last attempt, for logs. */
  endpoint: string | null = null;
  /** performance.now() when the upstream attempt started and ended (headers received). */
  upstreamStart = 0;
  upstreamMs = -1;
  /** performance.now() when the response head was handed to the socket (0: not yet). */
  respondedAt = 0;
  status = 0;
  error: OutriderError | null = null;
  /** An error raised while reading the client's body (413/408): it wins over what it caused upstream. */
  bodyError: OutriderError | null = null;
  bytesIn = 0;
  /** Wire bytes written to the client for this exchange (head and body). */
  bytesOut = 0;
  socketBytesAtStart = 0;
  /** Whether the request holds a slot of limits.maxInFlight. */
  counted = false;
  span: Span | null = null;
  /** traceparent/tracestate to send upstream (set by tracing, or passed through when it is off). */
  traceparent: string | undefined;
  tracestate: string | undefined;
  /** The one timer of the request: armed for the earlier of `deadline` and the body's deadline. */
  private timer: NodeJS.Timeout | null = null;
  /** performance.now() the armed timer is due (Infinity: none armed). */
  private timerAt = Infinity;
  /** Waiting in the turn's list of timers to set (queueArm). */
  private armQueued = false;
  /** The exchange is over (settle): no timer is set any more. */
  private settled = false;
  /** performance.now() by which the whole request body must have arrived (limits.bodyTimeout). */
  private bodyDeadline = Infinity;
  private bodyTimeoutMs = 0;

  constructor(id: string, req: IncomingMessage, res: ServerResponse, start: number) {
    this.id = id;
    this.req = req;
    this.res = res;
    this.socket = req.socket;
    this.start = start;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.path = q === -1 ? url : url.slice(0, q);
  }

  /** A real AbortSignal that follows `cancel`, made on first use (timers/promises, AbortSignal.any, streams). */
  get signal(): AbortSignal {
    if (this.controller === null) {
      const ac = new AbortController();
      this.controller = ac;
      if (this.cancel.aborted) ac.abort(this.cancel.reason);
      else this.cancel.addEventListener('abort', () => ac.abort(this.cancel.reason));
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.cancel.aborted;
  }

  /** Why the request was cancelled (an OutriderError), once `aborted`. */
  get abortReason(): unknown {
    return this.cancel.reason;
  }

  /** Cancels the request and everything below it; the first reason wins. */
  abort(reason: OutriderError): void {
    this.cancel.abort(reason);
  }

  /** Milliseconds of budget left (never negative). */
  remaining(now = performance.now()): number {
    return Math.max(0, this.deadline - now);
  }

  /**
   * Sets the budget: the smaller of `budgetMs` and what is already set (a client's x-timeout-ms,
   * an outer layer). Expiry aborts everything below with deadline_exceeded.
   */
  limitBudget(budgetMs: number): void {
    const deadline = this.start + budgetMs;
    if (deadline >= this.deadline) return;
    this.deadline = deadline;
    this.arm(deadline);
  }

  /**
   * The request body must have arrived within `timeoutMs` (limits.bodyTimeout), else the request
   * is cancelled with request_timeout (408). Shares the deadline's timer: a second timer and the
   * body's end/close listeners per request cost more than the rare re-arm after a slow body.
   */
  watchBody(timeoutMs: number): void {
    this.bodyTimeoutMs = timeoutMs;
    this.bodyDeadline = performance.now() + timeoutMs;
    this.arm(this.bodyDeadline);
  }

  /**
   * Makes the timer due at `at` unless it already is due earlier. The timer itself is set by the
   * next sweep (queueArm), SWEEP_MS later, if the exchange is still open by then; a deadline
   * nearer than that is set at once.
   */
  private arm(at: number): void {
    if (at >= this.timerAt || this.settled) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.timerAt = at;
    if (at - performance.now() <= SWEEP_MS) {
      this.armNow();
      return;
    }
    if (this.armQueued) return;
    this.armQueued = true;
    queueArm(this);
  }

  /** Sets the timer asked for by arm(), unless the exchange is over. */
  armNow(): void {
    this.armQueued = false;
    if (this.settled || this.timer !== null || this.timerAt === Infinity) return;
    // Whole milliseconds: Node keeps one timer list per distinct duration, and a fractional one
    // per request would make a list (and a priority-queue entry) for every request. The context
    // rides as the timer's argument: no closure per request.
    this.timer = setTimeout(fire, Math.max(0, Math.ceil(this.timerAt - performance.now())), this);
  }

  /** The timer is due: the body's deadline, the request's, or both; re-armed for what is left. */
  onTimer(): void {
    this.timer = null;
    this.timerAt = Infinity;
    // Node's timers run on the event loop's cached clock and can come up to a millisecond early.
    const now = performance.now() + 1;
    if (this.bodyDeadline <= now) {
      this.bodyDeadline = Infinity;
      if (!this.req.complete && this.bodyError === null) {
        this.bodyError = new OutriderError('request_timeout', `the request body did not arrive within ${this.bodyTimeoutMs} ms`);
        this.cancel.abort(this.bodyError);
      }
    }
    if (this.deadline <= now) {
      if (!this.cancel.aborted) {
        this.cancel.abort(new OutriderError('deadline_exceeded', 'the request deadline passed before the backend answered', { detail: 'timeout' }));
      }
      return;
    }
    if (this.cancel.aborted) return;
    const next = Math.min(this.deadline, this.bodyDeadline);
    if (next !== Infinity) this.arm(next);
  }

  /**
   * Buffers the whole request body once (bounded by maxBodyBytes; aborted with the request), so
   * that it can be replayed, hashed or inspected. Policies that need the body call this; plain
   * forwarding streams it instead.
   */
  readBody(): Promise<Buffer> {
    // A derived context (a shadow copy) is handed the body already read.
    this.bodyRead ??= this.body !== null ? Promise.resolve(this.body) : this.collectBody();
    return this.bodyRead;
  }

  /**
   * One promise, and listeners only when the body is not there whole: this runs on every cache
   * hit, where a race of promises and an async wrapper cost several microseconds of a ~100 µs
   * answer.
   */
  private collectBody(): Promise<Buffer> {
    const req = this.req;
    const cl = req.headers['content-length'];
    if ((cl === undefined && req.headers['transfer-encoding'] === undefined) || cl === '0') return Promise.resolve(this.body = EMPTY_BODY);
    const cancel = this.cancel;
    if (cancel.aborted) return Promise.reject(cancel.reason);
    // Nothing reads the body yet: it stays buffered in the request as Node parses it. The
    // handler runs while the parser is still in the packet that carried the head, and a small
    // body has usually come in that same packet, so one microtask later it is there whole: one
    // read() takes it, without the flowing stream's ticks, events and listeners.
    if (cl !== undefined && req.readableFlowing === null) {
      const length = Number(cl);
      return new Promise<Buffer>((resolve, reject) => {
        queueMicrotask(() => {
          const whole = this.takeBufferedBody(length);
          if (whole !== null) resolve(whole);
          else this.listenBody(resolve, reject);
        });
      });
    }
    return new Promise<Buffer>((resolve, reject) => this.listenBody(resolve, reject));
  }

  /**
   * The whole body (all `length` declared bytes buffered, none read by anything else), else
   * null. Node signals the message's end later than it buffers its last bytes: the length says
   * the body is whole before that.
   */
  private takeBufferedBody(length: number): Buffer | null {
    const req = this.req;
    if (req.readableFlowing !== null || req.readableDidRead || req.destroyed || this.cancel.aborted) return null;
    if (req.readableLength !== length || length > this.maxBodyBytes) return null;
    const body = req.read() as Buffer | null;
    if (body === null) return null;
    this.body = body;
    return body;
  }

  private listenBody(resolve: (body: Buffer) => void, reject: (e: unknown) => void): void {
    const req = this.req;
    const cancel = this.cancel;
    const max = this.maxBodyBytes;
    if (cancel.aborted) {
      reject(cancel.reason);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    cancel.addEventListener('abort', () => reject(cancel.reason));
    req.on('data', (c: Buffer) => {
      if (size > max) return;
      size += c.length;
      if (size > max) reject(new OutriderError('body_too_large', `the request body exceeds the limit of ${max} bytes`));
      else chunks.push(c);
    });
    req.once('end', () => {
      if (size > max) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      this.body = body;
      resolve(body);
    });
    req.once('error', (e) => reject(new OutriderError('invalid_request', 'the request body could not be read', { cause: e })));
  }

  /** Ends the deadline timer once the exchange is over. */
  settle(): void {
    this.settled = true;
    this.bodyDeadline = Infinity;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
    }
  }

  /** Aborts everything below because the client went away. */
  clientGone(): void {
    if (!this.cancel.aborted) {
      this.cancel.abort(new OutriderError('bad_gateway', 'client closed the connection', { detail: 'client_closed' }));
    }
  }
}
