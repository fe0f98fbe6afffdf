// `node bench/gc/survival.ts`: how much of what an undici client allocates survives V8's
// scavenges, with undici's `request()` and with `dispatch()` and a handler of our own, each in a
// fresh process making 200 requests/s for 12 s to a trivial loopback server (10 ms answers).
// Prints, per API, the young-generation bytes allocated, surviving and promoted per scavenge and
// the scavenge pauses, from V8's own trace (--trace-gc-nvp). This is the reproduction behind the
// README's "Latency at 2,000 req/s" gap: a high survival rate makes each scavenge copy megabytes.
//   node bench/gc/survival.ts            # both APIs
//   node bench/gc/survival.ts request    # one
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { LOAD_CPU, PROXY_CPU, pinned } from '../resilience/cpus.ts';
import { max, quantile } from '../resilience/load.ts';

const SELF = fileURLToPath(import.meta.url);
const APIS = ['request', 'dispatch'] as const;
type Api = (typeof APIS)[number];
const RATE = 200;
const SECONDS = 12;
const BODY = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });

/** The trivial upstream: answers every request after 10 ms. */
function serve(): void {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end('{"outputs":[{"name":"y","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}'), 10));
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
  process.once('SIGTERM', () => process.exit(0));
}

/** The client under test: RATE requests/s, each read to the end, through one API. */
function client(api: Api, origin: string): void {
  const pool = new Pool(origin);
  const one = (): Promise<unknown> => {
    if (api === 'request') return pool.request({ path: '/', method: 'POST', headers: ['content-type', 'application/json'], body: BODY }).then((r) => r.body.dump());
    return new Promise<void>((resolve, reject) => {
      pool.dispatch({ path: '/', method: 'POST', headers: ['content-type', 'application/json'], body: BODY }, {
        onRequestStart() {},
        onResponseStart() {},
        onResponseData() {},
        onResponseEnd: () => resolve(),
        onResponseError: (_c: unknown, e: Error) => reject(e),
      });
    });
  };
  const t0 = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - t0 > SECONDS * 1000) {
      clearInterval(timer);
      setTimeout(() => void pool.close(), 200);
      return;
    }
    for (let i = 0; i < RATE / 100; i++) one().catch((e: unknown) => { process.stderr.write(`${String(e)}\n`); process.exitCode = 1; });
  }, 10);
}

interface Scavenge { pauseMs: number; allocated: number; survived: number; promoted: number }

async function measure(api: Api): Promise<Scavenge[]> {
  const s = pinned(LOAD_CPU, process.execPath, [SELF, '--serve']);
  const server: ChildProcess = spawn(s.command, s.args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`the upstream exited with ${code}`)));
      readline.createInterface({ input: server.stdout! }).once('line', (l) => resolve((JSON.parse(l) as { port: number }).port));
    });
    const c = pinned(PROXY_CPU, process.execPath, ['--trace-gc-nvp', SELF, '--client', api, `http://127.0.0.1:${port}`]);
    const child = spawn(c.command, c.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const rows: Scavenge[] = [];
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.includes('gc=s ')) return;
      const kv = new Map(line.split(/\s+/).filter((x) => x.includes('=')).map((x) => x.split('=', 2) as [string, string]));
      rows.push({ pauseMs: Number(kv.get('pause')), allocated: Number(kv.get('allocated')), survived: Number(kv.get('new_space_survived')), promoted: Number(kv.get('promoted')) });
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    if (code !== 0) throw new Error(`the ${api} client exited with ${code}`);
    return rows;
  } finally {
    server.kill('SIGTERM');
  }
}

const mb = (n: number): string => (n / 1e6).toFixed(2);

async function main(): Promise<number> {
  const usage = `usage: node bench/gc/survival.ts [${APIS.join('|')}]...`;
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const chosen = argv.length === 0 ? [...APIS] : argv;
  const bad = chosen.filter((a) => !(APIS as readonly string[]).includes(a));
  if (bad.length > 0) {
    process.stderr.write(`unknown API(s): ${bad.join(', ')}\n${usage}\n`);
    return 2;
  }
  process.stdout.write(`undici ${RATE} req/s for ${SECONDS} s; client on CPU ${PROXY_CPU ?? 'any'}, upstream on CPU ${LOAD_CPU ?? 'any'}\n`);
  for (const api of chosen as Api[]) {
    // The first scavenges happen while the process loads, compiles and its young generation grows:
    // the second half is the steady state.
    const all = await measure(api);
    const rows = all.slice(Math.floor(all.length / 2));
    const sum = (k: keyof Scavenge): number => rows.reduce((a, r) => a + r[k], 0);
    const survival = sum('allocated') === 0 ? 0 : sum('survived') / sum('allocated');
    process.stdout.write(`${api.padEnd(8)} scavenges ${rows.length}; per scavenge: allocated ${mb(sum('allocated') / rows.length)} MB, survived ${mb(sum('survived') / rows.length)} MB, promoted ${mb(sum('promoted') / rows.length)} MB; survival ${(survival * 100).toFixed(1)}%; pause p50 ${quantile(rows.map((r) => r.pauseMs), 0.5).toFixed(1)} ms, max ${max(rows.map((r) => r.pauseMs)).toFixed(1)} ms\n`);
  }
  return 0;
}

// The same file is also the two child processes measure() starts.
if (process.argv[2] === '--serve') serve();
else if (process.argv[2] === '--client') client(process.argv[3] as Api, process.argv[4]!);
else process.exitCode = await main();
