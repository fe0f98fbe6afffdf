// A loopback upstream in its own process, so that its service time is not stretched by the
// load generator's work. Started by upstreams.ts with fork(): argv[2] is `hung`, `delay:MS` or
// `status:CODE`; it answers on IPC: {status: N} switches the status of a `status:` upstream,
// {hits: true} returns how many requests it has received.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const kind = process.argv[2] ?? '';
const OK = JSON.stringify({ outputs: [{ name: 'y', shape: [1], datatype: 'FP32', data: [1] }] });
let status = kind.startsWith('status:') ? Number(kind.slice('status:'.length)) : 200;
const delay = kind.startsWith('delay:') ? Number(kind.slice('delay:'.length)) : 0;
let hits = 0;

function reply(res: http.ServerResponse, code: number): void {
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(OK) });
  res.end(OK);
}

const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    hits++;
    if (kind === 'hung') return;
    if (delay > 0) setTimeout(() => reply(res, 200), delay);
    else reply(res, status);
  });
});

process.on('message', (m: { status?: number; hits?: boolean }) => {
  if (m.status !== undefined) status = m.status;
  process.send!({ hits, status });
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  process.send!({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});
