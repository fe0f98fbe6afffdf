// The bench's loopback backend, run as a child process; prints {"port":N} once bound.
//   POST /v2/models/bench/infer   a trivial model: a small fixed answer at once
//   POST /slow                    the same after SLOW_MS (requests that overlap, for coalescing)
//   POST /v1/embeddings           OpenAI embeddings costing ITEM_COST_MS of CPU per input (a model's compute)
//   GET  /count                   {"calls": {path: n}, "items": n} since start or the last reset
//   POST /reset                   zeroes the counters
import http from 'node:http';
import { announcePort, exitOnSignals } from '../overhead/child-entry.ts';
import { DIMENSIONS, ITEM_COST_MS, SLOW_MS } from './params.ts';

const ANSWER = Buffer.from('{"model_name":"bench","outputs":[{"name":"y","shape":[1,2],"datatype":"FP32","data":[0.25,0.75]}]}');
let calls: Record<string, number> = {};
let items = 0;

function vector(text: string): number[] {
  let h = 17;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  const out = new Array<number>(DIMENSIONS);
  for (let k = 0; k < DIMENSIONS; k++) { h = (h * 1_103_515_245 + 12_345) >>> 0; out[k] = Math.fround(h / 2 ** 32 - 0.5); }
  return out;
}

/** Busy for `ms`: compute holds the CPU, it does not sleep. */
function burn(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* computing */ }
}

function send(res: http.ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

const server = http.createServer({ keepAliveTimeout: 600_000, noDelay: true }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const path = req.url ?? '/';
    calls[path] = (calls[path] ?? 0) + 1;
    if (path === '/count') return send(res, Buffer.from(JSON.stringify({ calls, items })));
    if (path === '/reset') { calls = {}; items = 0; return send(res, Buffer.from('{}')); }
    if (path === '/slow') { setTimeout(() => send(res, ANSWER), SLOW_MS); return; }
    if (path === '/v1/embeddings') {
      const doc = JSON.parse(Buffer.concat(chunks).toString()) as { input: string | string[] };
      const inputs = typeof doc.input === 'string' ? [doc.input] : doc.input;
      items += inputs.length;
      burn(ITEM_COST_MS * inputs.length);
      const data = inputs.map((t, index) => ({ object: 'embedding', index, embedding: vector(t) }));
      const tokens = inputs.reduce((s, t) => s + t.split(' ').length, 0);
      return send(res, Buffer.from(JSON.stringify({ object: 'list', data, model: 'bench-embedder', usage: { prompt_tokens: tokens, total_tokens: tokens } })));
    }
    send(res, ANSWER);
  });
});

exitOnSignals();
server.listen(0, '127.0.0.1', () => announcePort(server));
