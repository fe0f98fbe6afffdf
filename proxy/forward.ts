// Forwarding one attempt to one endpoint with undici: pooled keep-alive connections, bodies
// streamed both ways (a small request body of known length is read first and sent as one
// buffer), the context's cancel for cancellation, and the remaining budget sent on as
// x-timeout-ms so the next hop (a chained sidecar, a runtime's queue) shrinks it further.
// The exchange goes through dispatch() with Outrider's handler (exchange.ts): see there why.
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, Pool } from 'undici';
import type { Endpoint } from '../runtime/types.ts';
import type { UpstreamConfig } from './config/types.ts';
import { upstreamAgent } from './tls.ts';
import { Cancel, requestHasBody, smallBody, type RequestContext } from './context.ts';
import { Exchange } from './exchange.ts';
import { OutriderError } from './errors.ts';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import type { Reply } from './pipeline.ts';
import type { Metrics } from './telemetry/metrics.ts';
import { WARM_BACKEND_HEADER, WARM_HEADER } from './warmup.ts';
import { endSpan, startClientSpan } from './telemetry/tracing.ts';
import type { EndpointPicker } from './balance.ts';

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'ENOENT']);
/** How often release() looks at a draining origin's pool: only while a replica drains. */
const RELEASE_POLL_MS = 5;
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ECONNABORTED']);
const POOL_OPTIONS: Pool.Options = {
  keepAliveTimeout: 4_000,
  // The request's own deadline bounds every phase; undici's fixed timeouts would only cut it shorter.
  headersTimeout: 0,
  bodyTimeout: 0,
  connect: { timeout: 5_000 },
};


export interface ForwarderOptions {
  readonly requestIdHeader: string;
  readonly upstreams: readonly UpstreamConfig[];
  readonly metrics: Metrics;
}

export class Forwarder {
  /**
   * One keep-alive pool per origin, dispatched to directly (an Agent in front only looks the
   * pool up again, per request, behind one more dispatch layer); release() reads them too.
   */
  private readonly pools = new Map<string, Pool>();
  private readonly metrics: Metrics;
  /** Agents for upstreams with their own TLS options, by backend name; the rest use `pools`. */
  private tlsAgents = new Map<string, { readonly fingerprint: string; readonly agent: Agent }>();
  private idHeader: string;
  private requestDrop: Set<string>;
  /** Headers the client's response gets from Outrider itself, never from upstream (runtimes echo the request id). */
  private responseDrop: Set<string>;

  constructor(opts: ForwarderOptions) {
    this.metrics = opts.metrics;
    this.idHeader = opts.requestIdHeader;
    this.requestDrop = dropSet(opts.requestIdHeader);
    this.responseDrop = new Set(['x-outrider-backend', opts.requestIdHeader]);
    this.configure(opts.requestIdHeader, opts.upstreams);
  }

  /** A reload may rename the request-id header and change upstreams' TLS options. */
  configure(requestIdHeader: string, upstreams: readonly UpstreamConfig[]): void {
    this.idHeader = requestIdHeader;
    this.requestDrop = dropSet(requestIdHeader);
    this.responseDrop = new Set(['x-outrider-backend', requestIdHeader]);
    const next = new Map<string, { readonly fingerprint: string; readonly agent: Agent }>();
    for (const u of upstreams) {
      if (u.tls === null) continue;
      const fingerprint = JSON.stringify(u.tls);
      const have = this.tlsAgents.get(u.name);
      next.set(u.name, have !== undefined && have.fingerprint === fingerprint ? have : { fingerprint, agent: upstreamAgent(u.tls) });
    }
    // Requests in flight on a replaced agent finish: close() waits for them.
    for (const [name, old] of this.tlsAgents) if (next.get(name) !== old) void old.agent.close();
    this.tlsAgents = next;
  }

  /** One attempt; `attemptTimeout` (ms) cuts it shorter than the request's remaining budget. */
  async forward(ctx: RequestContext, endpoint: Endpoint, picker: EndpointPicker, attemptTimeout: number | null = null): Promise<Reply> {
    const req = ctx.req;
    if (ctx.aborted) throw ctx.abortReason;
    // Streaming the client's request into undici (its body writer's listeners on the request)
    // keeps a fifth of each request's allocation alive through a scavenge; a small body is
    // usually whole in the first read anyway. Read once, it is also what a retry replays.
    if (ctx.body === null && smallBody(req) && requestHasBody(req)) await ctx.readBody();
    const now = performance.now();
    let budget = ctx.deadline - now;
    let signal = ctx.cancel;
    let attemptTimer: NodeJS.Timeout | null = null;
    if (attemptTimeout !== null && attemptTimeout < budget) {
      // The attempt budget covers the wait for response headers; the body then streams under the
      // request's deadline: the attempt's cancel follows ctx's for the rest of the exchange.
      budget = attemptTimeout;
      const attempt = new Cancel();
      ctx.cancel.addEventListener('abort', () => attempt.abort(ctx.abortReason));
      attemptTimer = setTimeout(() => attempt.abort(new OutriderError('deadline_exceeded', `the backend attempt timed out after ${Math.round(attemptTimeout)} ms`, { detail: 'timeout' })), Math.ceil(attemptTimeout));
      signal = attempt;
    }
    const headers = upstreamRequestHeaders(req.rawHeaders, req.headers.connection, this.requestDrop, {
      clientIp: ctx.socket.remoteAddress ?? 'unknown',
      proto: (ctx.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http',
    });
    headers.push(this.idHeader, ctx.id, 'x-timeout-ms', String(Math.max(1, Math.floor(budget))));
    // A buffered body (replayed, or rewritten by a policy such as the embedding cache) goes with its own length.
    if (ctx.body !== null && (ctx.body.length > 0 || requestHasBody(req))) setContentLength(headers, ctx.body.length);
    if (ctx.upstreamHeaders !== null) headers.push(...ctx.upstreamHeaders);
    const client = ctx.span === null ? null : startClientSpan(ctx.span, `forward ${endpoint.backend}`, {
      'outrider.backend': endpoint.backend, 'server.address': endpoint.origin, 'http.request.method': req.method ?? 'GET',
    });
    const traceparent = client?.traceparent ?? ctx.traceparent;
    const tracestate = client?.traceparent !== undefined ? client.tracestate : ctx.tracestate;
    if (traceparent !== undefined) headers.push('traceparent', traceparent);
    if (tracestate !== undefined) headers.push('tracestate', tracestate);

    ctx.backend = endpoint.backend;
    ctx.endpoint = endpoint.id;
    ctx.upstreamStart = now;
    const stats = picker.statsFor(endpoint.id);
    // The proxy's own warmup records into a twin never scraped (telemetry/metrics.ts).
    const metrics = ctx.warmup ? this.metrics.forWarmup : this.metrics;
    stats.inFlight++;
    try {
      const tlsAgent = this.tlsAgents.size === 0 ? undefined : this.tlsAgents.get(endpoint.backend)?.agent;
      const exchange = new Exchange(signal, ctx.copyReplyUpTo);
      (tlsAgent ?? this.pool(endpoint.origin)).dispatch({
        origin: endpoint.origin,
        path: ctx.upstreamPath ?? req.url ?? '/',
        method: (req.method ?? 'GET') as 'GET',
        headers,
        body: ctx.body ?? (requestHasBody(req) ? req : null),
      }, exchange);
      const res = await exchange.head;
      const body = exchange.takeBody();
      const end = performance.now();
      ctx.upstreamMs = end - now;
      metrics.upstreamAttempt(endpoint.backend, ctx.upstreamMs / 1000);
      stats.observe(ctx.upstreamMs, res.statusCode < 500, end);
      if (client !== null) endSpan(client.span, res.statusCode, null);
      return {
        status: res.statusCode,
        headers: downstreamResponseHeaders(res.headers, this.responseDrop),
        body,
      };
    } catch (e) {
      const err = signal.aborted ? (signal.reason as OutriderError) : upstreamError(e, endpoint);
      const end = performance.now();
      ctx.upstreamMs = end - now;
      metrics.upstreamAttempt(endpoint.backend, ctx.upstreamMs / 1000);
      stats.observe(ctx.upstreamMs, false, end);
      if (client !== null) endSpan(client.span, err.status, err.code);
      throw err;
    } finally {
      if (attemptTimer !== null) clearTimeout(attemptTimer);
      stats.inFlight--;
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all([...pools.map((p) => p.close()), ...[...this.tlsAgents.values()].map((a) => a.agent.close())]);
  }

  private pool(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (pool !== undefined) return pool;
    const p = pool = new Pool(origin, POOL_OPTIONS);
    // As an Agent does: a pool left with no connection and nothing queued is closed and
    // forgotten, so replicas that come and go on new ports leave nothing behind.
    const closeIfUnused = (): void => {
      const s = p.stats;
      if (this.pools.get(origin) !== p || s.connected > 0 || s.pending + s.running > 0) return;
      this.pools.delete(origin);
      void p.close();
    };
    p.on('disconnect', closeIfUnused).on('connectionError', closeIfUnused);
    this.pools.set(origin, p);
    return p;
  }

  /**
   * An endpoint left rotation (a runtime replica about to stop): resolves once no request the
   * proxy sent to `origin` is still queued or running there. Only then may the server close its
   * keep-alive connections: before, its close could race a request being written on one. New
   * requests cannot pick the endpoint any more; its idle connections are the server's to close.
   */
  async release(origin: string, signal: AbortSignal): Promise<void> {
    const pool = this.pools.get(origin);
    if (pool === undefined) return;
    while (!pool.closed && !pool.destroyed && !signal.aborted) {
      const { pending, running } = pool.stats;
      if (pending + running === 0) return;
      await sleep(RELEASE_POLL_MS);
    }
  }
}

function setContentLength(headers: string[], length: number): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    const name = headers[i]!;
    // The length first: lower-casing every name made a string per header per request.
    if (name.length === 14 && name.toLowerCase() === 'content-length') headers.splice(i, 2);
  }
  headers.push('content-length', String(length));
}

function dropSet(idHeader: string): Set<string> {
  // Set by Outrider on every upstream request: a client's own values must not pass through.
  // traceparent/tracestate are dropped only when re-set from a span (see forward()).
  // x-outrider-shadow marks Outrider's shadow copies (policies/shadow): a client cannot forge it.
  // The proxy's warmup headers (proxy/warmup.ts) carry its secret: no upstream sees them.
  return new Set([idHeader, 'x-timeout-ms', 'traceparent', 'tracestate', 'x-outrider-shadow', WARM_HEADER, WARM_BACKEND_HEADER]);
}


function upstreamError(e: unknown, endpoint: Endpoint): OutriderError {
  if (e instanceof OutriderError) return e;
  const code = (e as { code?: string } | null)?.code ?? '';
  const causeCode = ((e as { cause?: { code?: string } } | null)?.cause?.code) ?? '';
  if (CONNECT_CODES.has(code) || CONNECT_CODES.has(causeCode)) {
    return new OutriderError('unavailable', `backend "${endpoint.backend}" is unreachable`, { detail: 'connect', cause: e });
  }
  if (RESET_CODES.has(code) || RESET_CODES.has(causeCode)) {
    return new OutriderError('bad_gateway', `backend "${endpoint.backend}" reset the connection`, { detail: 'reset', cause: e });
  }
  if (code.startsWith('HPE_') || causeCode.startsWith('HPE_') || code === 'UND_ERR_INFO' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return new OutriderError('bad_gateway', `backend "${endpoint.backend}" sent an invalid response`, { detail: 'invalid_response', cause: e });
  }
  return new OutriderError('bad_gateway', `backend "${endpoint.backend}" failed`, { detail: 'upstream', cause: e });
}
