// The floor for a Node forwarder built the way Outrider forwards: node:http in front, an undici
// pool behind (dispatch(), a small request body read whole first, larger ones and replies
// streamed), hop-by-hop headers dropped, nothing else.
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { announcePort, exitOnSignals, originArg } from '../child-entry.ts';

// RFC 9110 §7.6.1: connection-specific fields are not forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const pool = new Pool(originArg());

function requestHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, raw[i + 1] as string);
  }
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  return out;
}

function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return cl !== undefined ? cl !== '0' : req.headers['transfer-encoding'] !== undefined;
}

function badGateway(res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(502, { 'content-type': 'text/plain', 'content-length': '12' });
  res.end('bad gateway\n');
}

/** A small body of known length is read whole and sent as one buffer, as Outrider does (proxy/forward.ts). */
const SMALL_BODY_MAX_BYTES = 64 * 1024;

function forward(req: IncomingMessage, res: ServerResponse): void {
  const cl = req.headers['content-length'];
  if (cl === undefined || Number(cl) > SMALL_BODY_MAX_BYTES) {
    send(req, res, hasBody(req) ? req : null);
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => send(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
}

/**
 * Through dispatch() with a handler that writes straight into the client's response, pausing the
 * upstream while the response is congested: undici's request() keeps a fifth of each request's
 * allocation alive through scavenges (proxy/exchange.ts).
 */
function send(req: IncomingMessage, res: ServerResponse, body: IncomingMessage | Buffer | null): void {
  let controller: Dispatcher.DispatchController | null = null;
  let started = false;
  res.on('close', () => {
    if (!res.writableFinished) controller?.abort(new Error('client gone'));
  });
  res.on('drain', () => controller?.resume());
  pool.dispatch({
    path: req.url ?? '/',
    method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
    headers: requestHeaders(req.rawHeaders),
    body,
  }, {
    onRequestStart: (c) => {
      controller = c;
    },
    onResponseStart: (_c, statusCode, headers) => {
      if (statusCode < 200) return;
      started = true;
      res.writeHead(statusCode, responseHeaders(headers));
    },
    onResponseData: (c, chunk) => {
      if (!res.write(chunk)) c.pause();
    },
    onResponseEnd: () => {
      res.end();
    },
    onResponseError: () => {
      if (started) res.destroy();
      else badGateway(res);
    },
  });
}

const server = http.createServer(forward);
exitOnSignals();
server.listen(0, '127.0.0.1', () => announcePort(server));
