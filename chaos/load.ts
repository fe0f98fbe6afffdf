// Constant-rate open-loop load: requests leave on a fixed schedule whether or not earlier ones
// have been answered (a closed loop would slow down exactly when the system under test does,
// and hide the fault). Bounded in count and duration, loopback only. Every request is
// recorded: status, latency, error code, the degradation headers, and whether it hung (no
// answer by its deadline plus a slack, after which it is abandoned).
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';

export interface LoadOptions {
  /** http://127.0.0.1:PORT: only loopback targets are accepted. */
  readonly origin: string;
  readonly path: string;
  readonly method?: 'GET' | 'POST';
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Requests per second. */
  readonly rate: number;
  readonly durationMs: number;
  /** Upper bound on requests sent (default: rate × duration). */
  readonly maxRequests?: number;
  /** The budget a request has (the route's timeout, or x-timeout-ms): the bars measure against it. */
  readonly deadlineMs: number;
  /** A request still unanswered at deadline + slack has hung; it is then abandoned. Default 1000 ms. */
  readonly hangSlackMs?: number;
  /** Checks a 200's body belongs to this request. Default: JSON whose `id` is the request's id. */
  readonly verify?: (body: string, id: string) => boolean;
}

export interface Sample {
  readonly i: number;
  readonly id: string;
  /** performance.now() values of this process. */
  readonly scheduledAt: number;
  readonly sentAt: number;
  endAt: number;
  latencyMs: number;
  /** 0 when no HTTP response head arrived. */
  status: number;
  /** The Outrider error code of a JSON error body, or the client-side error code (UND_ERR_SOCKET, ECONNREFUSED...). */
  code: string | null;
  hung: boolean;
  /** Whether a 200's body was complete and this request's own; null for other statuses. */
  bodyOk: boolean | null;
  /** The response head arrived but its body failed (cut connection, bad framing). */
  bodyError: string | null;
  retryAfter: string | null;
  degraded: string | null;
  backend: string | null;
  /** x-chaos-fault: the injector says it faulted this exchange. */
  fault: string | null;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const HARD_CAP = 200_000;

export function defaultVerify(body: string, id: string): boolean {
  try {
    return (JSON.parse(body) as { id?: unknown }).id === id;
  } catch {
    return false;
  }
}

export class Load {
  readonly samples: Sample[] = [];
  readonly runId = randomUUID().slice(0, 8);
  startedAt = 0;
  stoppedAt = 0;
  private readonly opts: LoadOptions;
  private readonly agent = new Agent({ keepAliveTimeout: 10_000, pipelining: 1 });
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly pending = new Set<Promise<void>>();
  private readonly max: number;
  private readonly url: string;
  private finish: () => void = () => {};
  private readonly ended = new Promise<void>((r) => { this.finish = r; });

  constructor(opts: LoadOptions) {
    const u = new URL(opts.origin);
    if (!LOOPBACK.has(u.hostname)) throw new Error(`load only goes to loopback, not ${u.hostname}`);
    if (!(opts.rate > 0) || !(opts.durationMs > 0) || !(opts.deadlineMs > 0)) throw new Error('rate, durationMs and deadlineMs must be positive');
    this.opts = opts;
    this.max = Math.min(HARD_CAP, opts.maxRequests ?? Math.ceil((opts.rate * opts.durationMs) / 1000));
    this.url = `${u.origin}${opts.path}`;
  }

  start(): this {
    this.startedAt = performance.now();
    this.tick();
    return this;
  }

  /** Stops sending; answers still due are awaited by done(). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stoppedAt = performance.now();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.finish();
  }

  /** Resolves once sending has stopped (duration, count or stop()) and every request has ended. */
  async done(): Promise<Sample[]> {
    await this.ended;
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    await this.agent.close();
    return this.samples;
  }

  private tick(): void {
    this.timer = null;
    if (this.stopped) return;
    const interval = 1000 / this.opts.rate;
    const now = performance.now();
    // Catch up on every slot that came due, so a late timer never lowers the offered rate.
    while (this.samples.length < this.max) {
      const due = this.startedAt + this.samples.length * interval;
      if (due > now || due - this.startedAt >= this.opts.durationMs) break;
      this.fire(due);
    }
    const nextDue = this.startedAt + this.samples.length * interval;
    if (this.samples.length >= this.max || nextDue - this.startedAt >= this.opts.durationMs) {
      this.stop();
      return;
    }
    this.timer = setTimeout(() => this.tick(), Math.max(0, nextDue - performance.now()));
  }

  private fire(scheduledAt: number): void {
    const i = this.samples.length;
    const id = `chaos-${this.runId}-${i}`;
    const s: Sample = {
      i, id, scheduledAt, sentAt: performance.now(), endAt: 0, latencyMs: 0, status: 0, code: null, hung: false,
      bodyOk: null, bodyError: null, retryAfter: null, degraded: null, backend: null, fault: null,
    };
    this.samples.push(s);
    const p = this.send(s).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async send(s: Sample): Promise<void> {
    const o = this.opts;
    const limit = AbortSignal.timeout(o.deadlineMs + (o.hangSlackMs ?? 1000));
    try {
      const res = await request(this.url, {
        dispatcher: this.agent,
        method: o.method ?? 'GET',
        headers: { ...o.headers, 'x-request-id': s.id },
        body: o.body ?? null,
        signal: limit,
      });
      s.status = res.statusCode;
      s.retryAfter = header(res.headers['retry-after']);
      s.degraded = header(res.headers['x-outrider-degraded']);
      s.backend = header(res.headers['x-outrider-backend']);
      s.fault = header(res.headers['x-chaos-fault']);
      let text: string;
      try {
        text = await res.body.text();
      } catch (e) {
        s.bodyError = errorCode(e);
        if (limit.aborted) s.hung = true;
        s.code = s.bodyError;
        if (s.status === 200) s.bodyOk = false;
        return;
      }
      if (s.status === 200) s.bodyOk = (o.verify ?? defaultVerify)(text, s.id);
      else s.code = outriderCode(text);
    } catch (e) {
      if (limit.aborted) s.hung = true;
      s.code = s.hung ? 'hung' : errorCode(e);
    } finally {
      s.endAt = performance.now();
      s.latencyMs = s.endAt - s.sentAt;
    }
  }
}

export function startLoad(opts: LoadOptions): Load {
  return new Load(opts).start();
}

function header(v: string | string[] | undefined): string | null {
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
}

function outriderCode(text: string): string | null {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const cause = (e as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (typeof cause === 'string') return cause;
  return e instanceof Error ? e.name : 'error';
}
