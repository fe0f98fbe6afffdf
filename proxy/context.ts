// One context per request (STYLE): id, route, deadline, and the AbortController whose signal
// reaches every layer below, down to the runtime's queue (through x-timeout-ms).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Span } from '@opentelemetry/api';
import { OutriderError } from './errors.ts';
import type { Route } from './routing.ts';

export class RequestContext {
  readonly id: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** performance.now() at arrival. */
  readonly start: number;
  readonly controller = new AbortController();
  route: Route | null = null;
  /** performance.now() after which the request has no budget left. */
  deadline = Infinity;
  /** The backend (runtime or upstream name) that answered, or the last one tried. */
  backend = 'none';
  /** The endpoint id of the last attempt, for logs. */
  endpoint: string | null = null;
  /** performance.now() when the upstream attempt started and ended (headers received). */
  upstreamStart = 0;
  upstreamMs = -1;
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
    this.start = start;
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
    const delay = Math.max(0, deadline - performance.now());
    this.timer = setTimeout(() => this.expire(), delay);
  }

  private expire(): void {
    this.timer = null;
    if (!this.controller.signal.aborted) {
      this.controller.abort(new OutriderError('deadline_exceeded', 'the request deadline passed before the backend answered', { detail: 'timeout' }));
    }
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
