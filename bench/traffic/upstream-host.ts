// The bench's loopback upstreams, in a process of their own so that their work (answers,
// timers, hung connections) never shares an event loop with the load generator's clock.
// Driven over IPC by harness.ts: add a server, change its behaviour, read its request count.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type HostCommand =
  | { readonly id: number; readonly op: 'add'; readonly name: string; readonly delayMs: number }
  | { readonly id: number; readonly op: 'set'; readonly origin: string; readonly delayMs?: number; readonly status?: number; readonly failEvery?: number }
  | { readonly id: number; readonly op: 'count'; readonly origin: string };

export type HostReply = { readonly id: number; readonly origin?: string; readonly requests?: number; readonly error?: string };

interface Behaviour {
  delayMs: number;
  status: number;
  failEvery: number;
  requests: number;
}

const servers = new Map<string, Behaviour>();

async function add(name: string, delayMs: number): Promise<string> {
  const b: Behaviour = { delayMs, status: 200, failEvery: 0, requests: 0 };
  const body = Buffer.from(JSON.stringify({ backend: name, outputs: [{ name: 'y', shape: [1, 2], datatype: 'FP32', data: [0.1, 0.9] }] }));
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const n = b.requests++;
      // A negative delay never answers: a hung backend.
      if (b.delayMs < 0) return;
      const status = b.failEvery > 0 && n % b.failEvery === 0 ? 500 : b.status;
      const send = () => { res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length }); res.end(body); };
      if (b.delayMs === 0) send(); else setTimeout(send, b.delayMs);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  servers.set(origin, b);
  return origin;
}

process.on('message', (m: HostCommand) => {
  const reply = (r: Omit<HostReply, 'id'>) => process.send!({ id: m.id, ...r } satisfies HostReply);
  if (m.op === 'add') {
    add(m.name, m.delayMs).then((origin) => reply({ origin }), (e: unknown) => reply({ error: String(e) }));
    return;
  }
  const b = servers.get(m.origin);
  if (b === undefined) return reply({ error: `no upstream at ${m.origin}` });
  if (m.op === 'set') {
    if (m.delayMs !== undefined) b.delayMs = m.delayMs;
    if (m.status !== undefined) b.status = m.status;
    if (m.failEvery !== undefined) b.failEvery = m.failEvery;
    return reply({});
  }
  reply({ requests: b.requests });
});

// The bench going away takes this process with it.
process.on('disconnect', () => process.exit(0));
