// One context per request (STYLE): id, route, deadline, and the AbortController whose signal
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
  readonly controller = new AbortController();
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
  private timer: NodeJS.Timeout | null = null;

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

  get signal(): AbortSignal {
    return this.controller.signal;
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
    if (this.timer !== null) clearTimeout(this.timer);
    // Whole milliseconds: Node keeps one timer list per distinct duration, and a fractional one
    // per request would make a list (and a priority-queue entry) for every request.
    const delay = Math.max(0, Math.ceil(deadline - performance.now()));
    this.timer = setTimeout(() => this.expire(), delay);
  }

  private expire(): void {
    this.timer = null;
    if (!this.controller.signal.aborted) {
      this.controller.abort(new OutriderError('deadline_exceeded', 'the request deadline passed before the backend answered', { detail: 'timeout' }));
    }
  }

  /**
   * Buffers the whole request body once (bounded by maxBodyBytes; aborted with the request), so
   * that it can be replayed, hashed or inspected. Policies that need the body call this; plain
   * forwarding streams it instead.
   */
  readBody(): Promise<Buffer> {
    // A derived context (a shadow copy) is handed the body already read.
    this.bodyRead ??= this.body !== null ? Promise.resolve(this.body) : this.collectBody().then((b) => (this.body = b));
    return this.bodyRead;
  }

  private async collectBody(): Promise<Buffer> {
    const req = this.req;
    const cl = req.headers['content-length'];
    if ((cl === undefined && req.headers['transfer-encoding'] === undefined) || cl === '0') return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    let size = 0;
    const signal = this.signal;
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    const done = new Promise<void>((resolve, reject) => {
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > this.maxBodyBytes) {
          reject(new OutriderError('body_too_large', `the request body exceeds the limit of ${this.maxBodyBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      req.once('end', () => resolve());
      req.once('error', (e) => reject(new OutriderError('invalid_request', 'the request body could not be read', { cause: e })));
    });
    await Promise.race([done, aborted]);
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  }

  /** Ends the deadline timer once the exchange is over. */
  settle(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Aborts everything below because the client went away. */
  clientGone(): void {
    if (!this.controller.signal.aborted) {
      this.controller.abort(new OutriderError('bad_gateway', 'client closed the connection', { detail: 'client_closed' }));
    }
  }
}
