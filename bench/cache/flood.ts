// RSS under a flood of unique keys, in a process of its own: the shared store (cache.maxBytes)
// filled with N distinct response entries built by the response cache's own key function and
// entry encoding. Prints one JSON line: RSS idle (store created, runtime warm), at the end, and
// the highest seen, with the store's accounted bytes.
//   node bench/cache/flood.ts KEYS MAX_BYTES
import { MemoryStore } from '../../proxy/cache/memory.ts';
import { encodeEntry } from '../../policies/cache/entry.ts';
import { routeKeyer } from '../../policies/cache/key.ts';
import type { RouteBuild } from '../../proxy/routing.ts';

const keys = Number(process.argv[2] ?? 1_000_000);
const maxBytes = Number(process.argv[3] ?? 32 * 1024 * 1024);
const WARM = 200_000;

const store = new MemoryStore({ maxBytes });
// The key function reads only the route, its backends, the upstreams and the store (aliases) from the build.
const build = {
  cache: store,
  route: { name: 'infer', backends: [{ to: 'up', weight: 1 }] },
  backends: new Map([['up', { name: 'up', kind: 'upstream', version: '', endpoints: () => [] }]]),
  config: { upstreams: [{ name: 'up', endpoints: ['http://127.0.0.1:1'] }] },
} as unknown as RouteBuild;
const keyOf = routeKeyer(build, ['x-tenant']);
const headers = ['content-type', 'application/json', 'date', new Date().toUTCString(), 'via', '1.1 outrider'];

function rssBytes(): number {
  return process.memoryUsage.rss();
}

function entry(i: number): Buffer {
  const body = Buffer.from(`{"model_name":"bench","outputs":[{"name":"y","shape":[1,2],"datatype":"FP32","data":[${i % 1000},0.75]}],"id":"${i}"}`);
  return encodeEntry({ status: 200, storedAt: Date.now(), freshUntil: Date.now() + 3_600_000, initialAge: 0, backend: 'up', varies: [], headers, body });
}

function put(i: number, distinct: number): void {
  const k = i % distinct;
  const body = Buffer.from(`{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[${k},0.5]}]}`);
  // As the response cache does on a miss: the entry, and the alias of the request's bytes.
  const rk = keyOf({ method: 'POST', url: '/v2/models/bench/infer', headers: { 'x-tenant': `t${k % 97}` }, body });
  store.set(rk.key, entry(k), 3_600_000);
  if (rk.alias !== null) store.setLocal(rk.alias, Buffer.from(rk.key, 'latin1'), 3_600_000);
}

const fresh = rssBytes();
// Warm: the same work over a small key set (the runtime, JIT and GC reach their steady state
// with the store nearly empty), then idle.
for (let i = 0; i < WARM; i++) put(i, 1000);
await new Promise((r) => setTimeout(r, 500));
const idle = rssBytes();
let peak = idle;
const start = performance.now();
for (let i = 0; i < keys; i++) {
  put(WARM + i, Number.MAX_SAFE_INTEGER);
  if (i % 20_000 === 0) peak = Math.max(peak, rssBytes());
}
const seconds = (performance.now() - start) / 1000;
peak = Math.max(peak, rssBytes());
process.stdout.write(`${JSON.stringify({ keys, maxBytes, seconds, freshRss: fresh, idleRss: idle, endRss: rssBytes(), peakRss: peak, storeBytes: store.bytes, entries: store.entries })}\n`);
