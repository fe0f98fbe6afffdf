// The fault proxy: an HTTP/1.1 server that forwards each request to one upstream and, for the
// share of traffic the current fault picks, misbehaves instead: delays, stalls, resets, sends
// malformed responses or error statuses, or drops the connection. Faults that break the HTTP
// framing are written straight on the socket, since a well-formed server cannot produce them.
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { PASS, faultLabel } from './faults.ts';
import type { Fault, Malformation } from './faults.ts';

/** Header on every faulted response that has a head, so a client can tell injected faults from collateral damage. */
export const FAULT_HEADER = 'x-chaos-fault';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'trailer', 'proxy-connection', 'host', 'content-length']);

// Injected bodies are small JSON answers; a larger one means the scenario is misconfigured.
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface InjectorStats {
  requests: number;
  /** Requests forwarded untouched (or only delayed: `latency` counts in both). */
  forwarded: number;
  faulted: Record<string, number>;
  connections: number;
  openConnections: number;
  /** Requests held by `stall` right now. */
  stalled: number;
  upstreamErrors: number;
}

interface Upstream {
  readonly status: number;
  readonly headers: [string, string][];
  readonly body: Buffer;
}

export class FaultProxy {
  readonly server: http.Server;
  private readonly pool: Pool;
  private fault: Fault = PASS;
  private epoch = 0;
  private readonly drawn = new WeakMap<Socket, { epoch: number; hit: boolean }>();
  private readonly sockets = new Set<Socket>();
  private readonly stalled = new Set<Socket>();
  private counters: InjectorStats = zeroStats();

  constructor(target: string) {
    this.pool = new Pool(target, { connections: 256, keepAliveTimeout: 10_000, headersTimeout: 0, bodyTimeout: 0 });
    // Outrider's pool keeps connections 4 s; ours outlives that so the client side closes first, as with real servers.
    this.server = http.createServer({ keepAliveTimeout: 10_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
      void this.onRequest(req, res).catch(() => req.socket.destroy());
    });
    this.server.on('connection', (s: Socket) => {
      this.counters.connections++;
      this.sockets.add(s);
      s.on('close', () => { this.sockets.delete(s); this.stalled.delete(s); });
    });
    this.server.on('clientError', (_e, s: Socket) => s.destroy());
  }

  listen(port = 0): Promise<number> {
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', () => resolve((this.server.address() as AddressInfo).port)));
  }

  setFault(f: Fault): void {
    this.fault = f;
    this.epoch++;
  }

  currentFault(): Fault {
    return this.fault;
  }

  stats(): InjectorStats {
    return { ...this.counters, faulted: { ...this.counters.faulted }, openConnections: this.sockets.size, stalled: this.stalled.size };
  }

  resetStats(): void {
    this.counters = zeroStats();
  }

  /** Ends every stalled exchange by closing its connection (the hung server "wakes up" and crashes them). */
  releaseStalled(): number {
    const n = this.stalled.size;
    for (const s of this.stalled) s.destroy();
    this.stalled.clear();
    return n;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    await this.pool.destroy();
  }

  private hits(socket: Socket, f: Fault): boolean {
    if (f.mode === 'pass' || f.probability <= 0) return false;
    if (f.per === 'request') return Math.random() < f.probability;
    const seen = this.drawn.get(socket);
    if (seen !== undefined && seen.epoch === this.epoch) return seen.hit;
    const hit = Math.random() < f.probability;
    this.drawn.set(socket, { epoch: this.epoch, hit });
    return hit;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.requests++;
    const socket = req.socket;
    const f = this.fault;
    const hit = this.hits(socket, f);
    const body = await readBody(req);
    if (!hit) {
      await this.forward(req, body, res, null);
      return;
    }
    const label = faultLabel(f);
    this.counters.faulted[label] = (this.counters.faulted[label] ?? 0) + 1;
    switch (f.mode) {
      case 'pass':
        return;
      case 'latency':
        await sleep(f.ms + Math.random() * f.jitterMs);
        if (socket.destroyed) return;
        await this.forward(req, body, res, label);
        return;
      case 'stall':
        // Accepted and read, never answered: the connection stays open until the client gives up.
        this.stalled.add(socket);
        return;
      case 'drop':
        socket.destroy();
        return;
      case 'status': {
        const text = JSON.stringify({ error: `injected ${f.status}` });
        res.writeHead(f.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), [FAULT_HEADER]: label });
        res.end(text);
        return;
      }
      case 'reset':
        if (f.at === 'before-head') {
          socket.resetAndDestroy();
          return;
        }
        await this.resetMidBody(req, body, socket, label);
        return;
      case 'malformed':
        await this.malformed(f.kind, req, body, socket, label);
        return;
    }
  }

  private async forward(req: IncomingMessage, body: Buffer, res: ServerResponse, label: string | null): Promise<void> {
    const up = await this.upstream(req, body);
    if (up === null) {
      // As a TCP proxy does when it cannot reach its target.
      req.socket.resetAndDestroy();
      return;
    }
    this.counters.forwarded++;
    const headers: [string, string][] = [...up.headers, ['content-length', String(up.body.length)]];
    if (label !== null) headers.push([FAULT_HEADER, label]);
    res.writeHead(up.status, headers.flat());
    res.end(up.body);
  }

  /** The upstream's head with its full length, half of its body, then RST. */
  private async resetMidBody(req: IncomingMessage, body: Buffer, socket: Socket, label: string): Promise<void> {
    const up = await this.upstream(req, body);
    if (up === null) {
      socket.resetAndDestroy();
      return;
    }
    const part = up.body.subarray(0, Math.max(1, Math.floor(up.body.length / 2)));
    await write(socket, head(up.status, [...up.headers, ['content-length', String(up.body.length)], [FAULT_HEADER, label]]));
    await write(socket, part);
    // Let the head and the partial body reach the client before the RST discards what is still queued.
    await sleep(20);
    if (!socket.destroyed) socket.resetAndDestroy();
  }

  private async malformed(kind: Malformation, req: IncomingMessage, body: Buffer, socket: Socket, label: string): Promise<void> {
    if (kind === 'status-line') {
      await write(socket, `HTTP/1.1 2OO N0T-OK\r\ncontent-length: 2\r\n${FAULT_HEADER}: ${label}\r\n\r\nok`);
      socket.destroySoon();
      return;
    }
    const up = await this.upstream(req, body);
    if (up === null) {
      socket.resetAndDestroy();
      return;
    }
    const base: [string, string][] = [...up.headers, [FAULT_HEADER, label]];
    switch (kind) {
      case 'chunked':
        await write(socket, Buffer.concat([
          head(up.status, [...base, ['transfer-encoding', 'chunked']]),
          Buffer.from(`${up.body.length.toString(16)}\r\n`), up.body, Buffer.from('\r\nZZ-not-hex\r\ngarbage\r\n0\r\n\r\n'),
        ]));
        socket.destroySoon();
        return;
      case 'length-short':
        await write(socket, Buffer.concat([head(up.status, [...base, ['content-length', String(up.body.length + 64)]]), up.body]));
        socket.destroySoon();
        return;
      case 'length-long': {
        // The declared length cuts the body short; the remainder plus a bogus response follow on
        // the same connection, as if they belonged to the next exchange.
        const declared = Math.max(1, Math.floor(up.body.length / 2));
        await write(socket, Buffer.concat([
          head(up.status, [...base, ['content-length', String(declared)]]), up.body,
          Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{"x":"y"}'),
        ]));
        // The server can no longer answer on this connection in order: close it once the client has had its look.
        setTimeout(() => socket.destroySoon(), 200).unref();
        return;
      }
    }
  }

  private async upstream(req: IncomingMessage, body: Buffer): Promise<Upstream | null> {
    const headers: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push([name, req.rawHeaders[i + 1]!]);
    }
    try {
      const r = await this.pool.request({
        method: (req.method ?? 'GET') as 'GET',
        path: req.url ?? '/',
        headers: headers.flat(),
        body: body.length === 0 && (req.method === 'GET' || req.method === 'HEAD') ? null : body,
      });
      const out = await r.body.arrayBuffer();
      if (out.byteLength > MAX_BODY_BYTES) throw new Error('upstream body too large for the injector');
      const resHeaders: [string, string][] = [];
      for (const [name, value] of Object.entries(r.headers)) {
        if (HOP_BY_HOP.has(name) || value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) resHeaders.push([name, v]);
      }
      return { status: r.statusCode, headers: resHeaders, body: Buffer.from(out) };
    } catch {
      this.counters.upstreamErrors++;
      return null;
    }
  }
}

function zeroStats(): InjectorStats {
  return { requests: 0, forwarded: 0, faulted: {}, connections: 0, openConnections: 0, stalled: 0, upstreamErrors: 0 };
}

function head(status: number, headers: readonly [string, string][]): Buffer {
  const lines = headers.map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return Buffer.from(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Unknown'}\r\n${lines}\r\n`);
}

function write(socket: Socket, data: Buffer | string): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.write(data, () => resolve());
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large for the injector');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
