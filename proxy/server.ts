// The data listener and its edge protections (SPEC §2 `limits`, §3), and the one rescue that
// turns any error below into the JSON error response.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { RequestContext, requestHasBody } from './context.ts';
import { UpstreamBody } from './exchange.ts';
import { OutriderError, errorBody, toOutriderError } from './errors.ts';
import type { Reply } from './pipeline.ts';
import { serverTlsOptions } from './tls.ts';
import { acceptRequestId, newRequestId } from './request-id.ts';
import type { RouteTable } from './routing.ts';
import type { Metrics } from './telemetry/metrics.ts';
import type { Logger } from './telemetry/log.ts';
import { accessLine, type AccessEntry } from './telemetry/access-log.ts';
import { endSpan, startServerSpan, tracingActive } from './telemetry/tracing.ts';
import { WARM_BACKEND_HEADER, WARM_HEADER } from './warmup.ts';

/** What the data server reads on every request; the app swaps `table` on reload. */
export interface DataPlane {
  table: RouteTable;
  draining: boolean;
  /** Requests carrying this secret in x-outrider-warmup are the proxy's own warmup (see app.ts). */
  readonly warmToken: string;
  /** The proxy's forward path has been warmed (or there was nothing to warm). */
  warmed: boolean;
  inFlight: number;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The log's line batch for access-log lines (telemetry/access-log.ts), or null: they go through `log`. */
  readonly accessSink: ((line: string) => void) | null;
}

// A client-supplied x-timeout-ms: a positive integer of milliseconds, bounded to a day.
const TIMEOUT_MS = /^[0-9]{1,9}$/;

export function createDataServer(plane: DataPlane): http.Server | https.Server {
  const { limits, listen } = plane.table.config;
  const options: http.ServerOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeout,
    // Slow bodies are answered 408 by the edge itself (bodyTimeout), not by Node's request timer.
    requestTimeout: 0,
    // Node checks headersTimeout on this interval; its 30 s default would let a slowloris live 3x too long.
    connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(limits.headersTimeout / 4))),
    keepAliveTimeout: 5_000,
    noDelay: true,
    // Ambiguous framing (CL+TE, duplicate lengths) is refused by llhttp's strict mode: never relax it.
    insecureHTTPParser: false,
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => onRequest(plane, req, res);
  // A stalled TLS handshake is a slow head too (Node's default would keep it two minutes).
  const server = listen.tls === null
    ? http.createServer(options, handler)
    : https.createServer({ ...options, ...serverTlsOptions(listen.tls), handshakeTimeout: limits.headersTimeout }, handler);
  trackSockets(server);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => onClientError(plane, err, socket));
  return server;
}

const openSockets = new WeakMap<http.Server | https.Server, Set<Socket>>();

/**
 * A TLS listener's connections reach the HTTP layer (and closeAllConnections) only once their
 * handshake is done: every listener's TCP sockets are tracked from the start, so that shutdown
 * closes those still in their handshake instead of waiting for them.
 */
function trackSockets(server: http.Server | https.Server): void {
  const open = new Set<Socket>();
  openSockets.set(server, open);
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
}

/** Closes every connection of the data listener: HTTP ones, and (TLS) those still in their handshake. */
export function closeEveryConnection(server: http.Server | https.Server): void {
  server.closeAllConnections();
  for (const socket of openSockets.get(server) ?? []) socket.destroy();
}

function onRequest(plane: DataPlane, req: IncomingMessage, res: ServerResponse): void {
  const start = performance.now();
  const table = plane.table;
  const cfg = table.config;
  const id = acceptRequestId(req.headers[cfg.requestId.header], cfg.requestId.trustIncoming);
  const ctx = new RequestContext(id, req, res, start);
  ctx.socketBytesAtStart = req.socket.bytesWritten;
  if (plane.draining) res.shouldKeepAlive = false;
  res.on('close', () => onClose(plane, ctx));
  // The proxy's own warmup (proxy/warmup.ts) is recognised only until it is over.
  if (!plane.warmed && isWarmToken(req.headers[WARM_HEADER], plane.warmToken)) ctx.warmup = true;
  if (plane.inFlight >= cfg.limits.maxInFlight) {
    (ctx.warmup ? plane.metrics.forWarmup : plane.metrics).shedOne('max_in_flight');
    writeError(ctx, table, new OutriderError('overloaded', 'too many requests in flight', { detail: 'max_in_flight' }));
    return;
  }
  plane.inFlight++;
  ctx.counted = true;
  void handle(plane, ctx, table);
}

/**
 * The request from its route to its reply. Whatever is thrown goes to rescue, inside this one
 * async function (it never rejects): a .catch() on its promise cost a closure and a promise more
 * per request.
 */
async function handle(plane: DataPlane, ctx: RequestContext, table: RouteTable): Promise<void> {
  try {
    const { req } = ctx;
    const cfg = table.config;
    const path = ctx.path;
    if (path.charCodeAt(0) !== 47 /* / */ || hasDotSegment(path)) {
      throw new OutriderError('invalid_request', 'the request target must be an absolute path without dot segments');
    }
    const clientBudget = req.headers['x-timeout-ms'];
    if (clientBudget !== undefined) {
      if (typeof clientBudget !== 'string' || !TIMEOUT_MS.test(clientBudget)) {
        throw new OutriderError('invalid_request', 'x-timeout-ms must be a whole number of milliseconds');
      }
      ctx.limitBudget(Number(clientBudget));
    }
    const tp = req.headers['traceparent'];
    const ts = req.headers['tracestate'];
    ctx.traceparent = typeof tp === 'string' ? tp : undefined;
    ctx.tracestate = typeof ts === 'string' ? ts : undefined;

    const route = ctx.warmup ? (table.warmRoute(String(req.headers[WARM_BACKEND_HEADER])) ?? null) : table.match(req, path);
    if (route === null) throw new OutriderError('no_route', `no route matches ${req.method} ${path}`);
    ctx.route = route;
    // Warmup requests are no client's: no trace.
    if (!ctx.warmup && tracingActive()) {
      ctx.span = startServerSpan(route.name, req.headers, { 'http.request.method': req.method ?? 'GET', 'url.path': path, 'outrider.route': route.name, 'outrider.request_id': ctx.id });
    }
    ctx.maxBodyBytes = cfg.limits.maxBodyBytes;
    guardBody(ctx, cfg.limits.maxBodyBytes, cfg.limits.bodyTimeout);
    if (ctx.deadline !== Infinity && ctx.deadline <= performance.now()) throw new OutriderError('deadline_exceeded', 'the request arrived with no budget left', { detail: 'timeout' });
    const reply = await route.handler(ctx);
    if (ctx.aborted) {
      if (reply.body instanceof Readable) reply.body.destroy();
      throw ctx.abortReason;
    }
    writeReply(plane, ctx, table, reply);
  } catch (e) {
    rescue(plane, ctx, table, e);
  }
}

function hasDotSegment(path: string): boolean {
  // Most paths have neither a dot nor an escape: no regular expression for them.
  if (path.indexOf('.') === -1 && path.indexOf('%') === -1) return false;
  return /(^|\/)(\.|%2e){1,2}(\/|$)/i.test(path);
}

/**
 * maxBodyBytes is enforced while the body streams (a declared length is refused up front), and
 * the body must arrive within bodyTimeout. Either breach aborts the work below; the edge then
 * answers 413/408 and closes the connection, since the rest of the body is never read.
 */
function guardBody(ctx: RequestContext, maxBytes: number, timeoutMs: number): void {
  const { req } = ctx;
  const cl = req.headers['content-length'];
  if (cl !== undefined) {
    const n = Number(cl);
    if (n > maxBytes) throw new OutriderError('body_too_large', `the request body is ${n} bytes; the limit is ${maxBytes}`);
    ctx.bytesIn = n;
    if (n === 0) return;
  } else if (req.headers['transfer-encoding'] === undefined) {
    return;
  } else {
    req.on('data', (chunk: Buffer) => {
      ctx.bytesIn += chunk.length;
      if (ctx.bytesIn > maxBytes && ctx.bodyError === null) {
        ctx.bodyError = new OutriderError('body_too_large', `the request body exceeds the limit of ${maxBytes} bytes`);
        ctx.abort(ctx.bodyError);
      }
    });
  }
  if (!req.complete) ctx.watchBody(timeoutMs);
}

function writeReply(plane: DataPlane, ctx: RequestContext, table: RouteTable, reply: Reply): void {
  const { res } = ctx;
  const headers = reply.headers;
  headers.push(table.config.requestId.header, ctx.id, 'x-outrider-backend', ctx.backend);
  if (ctx.cacheStatus !== null) headers.push('x-outrider-cache', ctx.cacheStatus);
  if (ctx.degraded !== null) headers.push('x-outrider-degraded', ctx.degraded);
  ctx.status = reply.status;
  if (plane.draining) res.shouldKeepAlive = false;
  res.writeHead(reply.status, headers);
  ctx.respondedAt = performance.now();
  const body = reply.body;
  if (body === null) {
    res.end();
  } else if (Buffer.isBuffer(body)) {
    res.end(body);
  } else if (body instanceof UpstreamBody && body.arrivedWhole) {
    // The whole answer came in with its head (a small one usually does): one write with the
    // head, and none of a pipe's listeners and callbacks on either stream.
    const data = body.readableLength > 0 ? body.read() as Buffer | null : null;
    if (data === null) res.end();
    else res.end(data);
  } else {
    body.on('error', (e) => {
      // Headers are gone: the only honest signal left is to cut the response short.
      ctx.error ??= ctx.aborted ? (ctx.abortReason as OutriderError) : new OutriderError('bad_gateway', 'the backend failed mid-response', { detail: 'reset', cause: e });
      res.destroy();
    });
    body.pipe(res);
  }
}

function rescue(plane: DataPlane, ctx: RequestContext, table: RouteTable, e: unknown): void {
  const err = ctx.bodyError ?? toOutriderError(e);
  if (err.code === 'internal') plane.log.error({ requestId: ctx.id, err: e }, 'internal error');
  if (err.detail === 'client_closed') {
    ctx.error = err;
    return;
  }
  if (ctx.res.headersSent) {
    ctx.error ??= err;
    ctx.res.destroy();
    return;
  }
  writeError(ctx, table, err);
}

function writeError(ctx: RequestContext, table: RouteTable, err: OutriderError): void {
  const { res } = ctx;
  ctx.error = err;
  ctx.status = err.status;
  const body = errorBody(err, ctx.id);
  const headers: string[] = [
    'content-type', 'application/json',
    'content-length', String(Buffer.byteLength(body)),
    table.config.requestId.header, ctx.id,
  ];
  if (err.retryAfter !== undefined) headers.push('retry-after', String(err.retryAfter));
  if (ctx.backend !== 'none') headers.push('x-outrider-backend', ctx.backend);
  if (ctx.cacheStatus !== null) headers.push('x-outrider-cache', ctx.cacheStatus);
  // The unread rest of a refused body must never be parsed as the next request. Node reads an
  // untouched body off the wire after the response and keeps the connection; that is worth it
  // for a small one (a shed request must not cost its client a reconnect, which under overload
  // is dearer than the answer). A large, chunked or half-read body closes the connection.
  if (ctx.bodyError !== null || (!ctx.req.complete && requestHasBody(ctx.req) && !drainable(ctx.req))) headers.push('connection', 'close');
  res.writeHead(err.status, headers);
  res.end(body);
  ctx.respondedAt = performance.now();
}

const DRAIN_MAX_BYTES = 64 * 1024;

function drainable(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return cl !== undefined && Number(cl) <= DRAIN_MAX_BYTES && !req.readableDidRead;
}


function onClose(plane: DataPlane, ctx: RequestContext): void {
  ctx.settle();
  if (!ctx.res.writableFinished) ctx.clientGone();
  if (ctx.counted) {
    plane.inFlight--;
  }
  // The proxy's own warmup traffic runs the same code as a client's, but its figures go to a
  // twin of the metrics that is never scraped and its access line is formatted, not written.
  const warmup = ctx.warmup;
  const route = ctx.route?.name ?? 'none';
  ctx.bytesOut = ctx.socket.bytesWritten - ctx.socketBytesAtStart;
  const status = ctx.res.writableFinished ? (ctx.status || ctx.res.statusCode) : 499;
  const code = ctx.error?.code ?? (status === 499 ? 'client_closed' : '');
  const seconds = (performance.now() - ctx.start) / 1000;
  (warmup ? plane.metrics.forWarmup : plane.metrics).record(route, ctx.backend, status, code, seconds);
  if (ctx.span !== null) endSpan(ctx.span, status, code === '' ? null : code);
  if (plane.table.config.telemetry.accessLog) {
    const req = ctx.req;
    const entry: AccessEntry = {
      requestId: ctx.id,
      route,
      backend: ctx.backend,
      endpoint: ctx.endpoint,
      method: req.method,
      // The query string can carry secrets: only the path is logged.
      path: ctx.path,
      status,
      code: code === '' ? undefined : code,
      detail: ctx.error?.detail,
      cache: ctx.cacheStatus ?? undefined,
      degraded: ctx.degraded ?? undefined,
      attempts: ctx.attempts > 1 ? ctx.attempts : undefined,
      durationMs: round(seconds * 1000),
      // Arrival to the response head written: the proxy's own time for a local answer (a shed
      // 503), without the event-loop turn the end of the exchange waits for.
      headMs: ctx.respondedAt === 0 ? undefined : round(ctx.respondedAt - ctx.start),
      upstreamMs: ctx.upstreamMs < 0 ? undefined : round(ctx.upstreamMs),
      bytesIn: ctx.bytesIn,
      bytesOut: ctx.bytesOut,
      traceId: ctx.span?.spanContext().traceId,
    };
    const sink = plane.accessSink;
    if (warmup) accessLine(entry);
    else if (sink !== null) sink(accessLine(entry));
    else plane.log.info(entry, 'request');
  }
}

function isWarmToken(value: string | string[] | undefined, token: string): boolean {
  if (typeof value !== 'string' || value.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(value), Buffer.from(token));
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Errors Node's parser raises before a request exists (HPE_*): answer them on the raw socket.
 * Anything else is closed: a TLS error (a failed or timed-out handshake, reported here by the
 * https server) has no channel to answer on, and ending such a socket would wait for a
 * handshake that never comes.
 */
function onClientError(plane: DataPlane, err: NodeJS.ErrnoException, socket: Socket): void {
  const code = err.code ?? '';
  // A slow head (HPE_HEADERS_TIMEOUT) gets no answer either.
  if (!socket.writable || !code.startsWith('HPE_') || code === 'HPE_HEADERS_TIMEOUT') {
    socket.destroy();
    return;
  }
  const overflow = err.code === 'HPE_HEADER_OVERFLOW';
  const e = overflow
    ? new OutriderError('headers_too_large', `the request head exceeds ${plane.table.config.limits.maxHeaderBytes} bytes`)
    : new OutriderError('invalid_request', 'malformed HTTP request');
  plane.metrics.record('none', 'none', e.status, e.code, 0);
  const id = newRequestId();
  const body = errorBody(e, id);
  socket.end(
    `HTTP/1.1 ${e.status} ${http.STATUS_CODES[e.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `${plane.table.config.requestId.header}: ${id}\r\nconnection: close\r\n\r\n${body}`,
  );
}
