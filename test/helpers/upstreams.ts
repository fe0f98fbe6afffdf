// Real loopback upstreams for tests: a well-behaved echo server and misbehaving ones
// (stall, reset mid-body, garbage, slow). Each records what it received.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: Buffer;
}

export interface TestUpstream {
  readonly origin: string;
  readonly seen: Seen[];
  /** Requests whose connection closed before the upstream answered (client aborted). */
  aborted: number;
  close(): Promise<void>;
}

export type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, up: TestUpstream) => void;

/** Answers 200 with a JSON echo of what it got. */
export const echo: Behaviour = (req, res, body) => {
  const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString() });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'keep-alive': 'timeout=5', 'x-upstream': 'echo' });
  res.end(text);
};

export async function startUpstream(behaviour: Behaviour = echo): Promise<TestUpstream> {
  const seen: Seen[] = [];
  const sockets = new Set<net.Socket>();
  const up: TestUpstream = { origin: '', seen, aborted: 0, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
      res.on('close', () => { if (!res.writableFinished) up.aborted++; });
      behaviour(req, res, body, up);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  Object.assign(up, {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  });
  return up;
}

/** A raw TCP server that answers every request with the given bytes, then acts (close/reset/keep). */
export async function startRawUpstream(reply: (data: Buffer, socket: net.Socket) => void): Promise<{ origin: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.includes('\r\n\r\n')) { const b = buf; buf = Buffer.alloc(0); reply(b, s); }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/** A port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
