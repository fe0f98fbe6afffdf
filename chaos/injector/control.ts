// The injector's control API, on its own port so that faults on the data path never reach it:
//   GET  /fault          the current fault
//   PUT  /fault          set a fault (a JSON body, see faults.ts); 400 with the reason when invalid
//   GET  /stats          counters since the last reset
//   POST /stats/reset    zero the counters
//   POST /release        close every stalled connection
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseFault } from './faults.ts';
import type { FaultProxy } from './proxy.ts';

const MAX_CONTROL_BODY = 64 * 1024;

export function createControlServer(proxy: FaultProxy): http.Server {
  return http.createServer((req, res) => {
    void handle(proxy, req, res).catch((e: unknown) => json(res, 500, { error: String(e) }));
  });
}

export function listenControl(server: http.Server, port = 0): Promise<number> {
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function handle(proxy: FaultProxy, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const key = `${req.method} ${(req.url ?? '/').split('?')[0]}`;
  switch (key) {
    case 'GET /fault': return json(res, 200, proxy.currentFault());
    case 'PUT /fault': {
      let body: unknown;
      try {
        body = JSON.parse(await readText(req));
      } catch (e) {
        return json(res, 400, { error: `the body must be JSON: ${(e as Error).message}` });
      }
      const fault = parseFault(body);
      if (typeof fault === 'string') return json(res, 400, { error: fault });
      proxy.setFault(fault);
      return json(res, 200, fault);
    }
    case 'GET /stats': return json(res, 200, proxy.stats());
    case 'POST /stats/reset': proxy.resetStats(); return json(res, 200, proxy.stats());
    case 'POST /release': return json(res, 200, { released: proxy.releaseStalled() });
    default: return json(res, 404, { error: `no control endpoint ${key}` });
  }
}

async function readText(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const c of req as AsyncIterable<Buffer>) {
    text += c.toString('utf8');
    if (text.length > MAX_CONTROL_BODY) throw new Error('control request too large');
  }
  return text;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
