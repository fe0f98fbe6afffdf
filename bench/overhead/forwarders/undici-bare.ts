// The floor for a Node forwarder built the way Outrider forwards: node:http in front, an undici
// pool behind, bodies streamed both ways, hop-by-hop headers dropped, nothing else.
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

function forward(req: IncomingMessage, res: ServerResponse): void {
  pool.request({
    path: req.url ?? '/',
    method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
    headers: requestHeaders(req.rawHeaders),
    body: hasBody(req) ? req : null,
  }).then((up) => {
    if (res.destroyed) {
      // The client went away while the upstream answered: drain the small body so the
      // upstream connection stays reusable.
      up.body.dump().catch(() => undefined);
      return;
    }
    res.writeHead(up.statusCode, responseHeaders(up.headers));
    const body = up.body;
    // Plain pipe() as Outrider writes replies: stream.pipeline() costs about twice as much CPU
    // per request here (an AbortController and its DOMException per call).
    body.on('error', () => res.destroy());
    res.on('close', () => {
      if (!body.readableEnded) body.destroy();
    });
    body.pipe(res);
  }, () => badGateway(res));
}

const server = http.createServer(forward);
exitOnSignals();
server.listen(0, '127.0.0.1', () => announcePort(server));
