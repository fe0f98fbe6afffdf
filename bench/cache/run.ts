// `npm run bench:cache`: the cache bars of issue 7, each against a baseline measured in the
// same run (see docs/cache.md):
//   1. a hit's p50 against a trivial direct upstream call's (bar: at most 1.2x);
//   2. 100 concurrent identical requests -> backend calls (bar: exactly 1);
//   3. embeddings with 50% of the items cached -> items computed and latency against 0% cached;
//   4. RSS growth under 1 million unique keys (bar: at most cache.maxBytes + 64 MiB over idle),
//      plus a bounded flood of unique requests through the real proxy.
//
//   npm run bench:cache -- [--rounds N] [--keys N] [--proxy-keys N] [--quick] [--only hit,coalescing,embeddings,memory]
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { stringify } from 'yaml';
import { INFER_PATH, REQUEST_BODY } from '../overhead/payload.ts';
import { REPO_ROOT } from '../overhead/outrider.ts';
import { Processes, portLine, rssBytes, waitForLine } from '../overhead/processes.ts';
import { LOAD_CPU, PROXY_CPU, pinSelf } from '../resilience/cpus.ts';
import type { Child } from '../overhead/processes.ts';
import { ITEM_COST_MS, SLOW_MS } from './params.ts';
import { benchArgs, countArg } from '../args.ts';
import { HEAP_FLAGS } from '../../proxy/heap-flags.ts';

const MiB = 1024 * 1024;
const MAX_BYTES = 32 * MiB;
const CLI = join(REPO_ROOT, 'proxy', 'cli.ts');
const MODEL = join(REPO_ROOT, 'examples', 'models', 'embedder.onnx');
/** The V8 heap flags Outrider is launched with (`npm start`, the image): proxy/heap-flags.ts. */
const LEAN_FLAGS = HEAP_FLAGS;

const USAGE = `usage: npm run bench:cache -- [options]
  --rounds N       rounds of the hit-latency bar, median (default 5)
  --keys N         unique keys stored in the RSS bar (default 1000000)
  --proxy-keys N   unique requests of the flood through the proxy (default 100000)
  --quick          2 rounds, 200000 keys, 20000 proxy keys
  --only LIST      run only these bars, comma-separated: hit, coalescing, embeddings, memory (default all)`;
const args = benchArgs({
  rounds: { type: 'string' },
  keys: { type: 'string' },
  'proxy-keys': { type: 'string' },
  quick: { type: 'boolean' },
  only: { type: 'string' },
}, USAGE);
const BARS = ['hit', 'coalescing', 'embeddings', 'memory'] as const;
const only = new Set((args.only ?? BARS.join(',')).split(',').map((s) => s.trim()).filter((s) => s !== ''));
for (const name of only) {
  if (!(BARS as readonly string[]).includes(name)) {
    process.stderr.write(`--only: unknown bar "${name}" (expected ${BARS.join(', ')})\n${USAGE}\n`);
    process.exit(2);
  }
}
const quick = args.quick === true;
const ROUNDS = quick ? 2 : countArg('rounds', args.rounds, 5, 1, USAGE);
const KEYS = quick ? 200_000 : countArg('keys', args.keys, 1_000_000, 1, USAGE);
const PROXY_KEYS = quick ? 20_000 : countArg('proxy-keys', args['proxy-keys'], 100_000, 1, USAGE);

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function sortedCopy(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

const r2 = (n: number) => Math.round(n * 100) / 100;
const r3 = (n: number) => Math.round(n * 1000) / 1000;

interface Response { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

async function send(pool: Pool, path: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<Response> {
  const res = await pool.request({ path, method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
}

/**
 * Sequential requests on one keep-alive connection: milliseconds each. `gapMs` > 0 paces them
 * (light load: each request finds the server done with the previous one's logging and metrics);
 * 0 sends them back to back (the server's post-response work then delays the next request).
 */
async function timed(pool: Pool, path: string, body: Buffer, n: number, expectCache: string | null, gapMs = 0): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    const start = performance.now();
    const r = await send(pool, path, body);
    out.push(performance.now() - start);
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${r.body.toString().slice(0, 200)}`);
    if (expectCache !== null && r.headers['x-outrider-cache'] !== expectCache) throw new Error(`${path}: expected x-outrider-cache ${expectCache}, got ${String(r.headers['x-outrider-cache'])}`);
  }
  return out;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  return await res.json() as T;
}

/*
 * Placement (bench/resilience/cpus.ts): this process, the client, on LOAD_CPU; the two servers
 * the hit bar compares, the trivial upstream (direct) and Outrider (a hit), both on PROXY_CPU,
 * so that each request crosses between the same two CPUs. Unpinned, the scheduler often put the
 * small upstream on the client's own CPU, where an exchange costs no cross-CPU wake-up (36 µs
 * back to back against 72 µs across, 2026-12-08), and the comparison measured the placement.
 */

interface Counts { calls: Record<string, number>; items: number }

/** The bench's Outrider: every phase's routes (the embedder runtime only when `runtime`). */
function benchConfig(upstream: string, runtime: boolean): unknown {
  return {
    version: 1,
    listen: { data: '127.0.0.1:0', admin: '127.0.0.1:0' },
    runtimes: runtime ? [{ name: 'embedder', kind: 'onnx', model: MODEL, version: '1', replicas: 1, warmup: { iterations: 5 } }] : [],
    upstreams: [{ name: 'bench', endpoints: [upstream] }],
    routes: [
      { name: 'cached', match: { path: INFER_PATH, methods: ['POST'] }, cache: { ttl: '1h' }, backends: [{ to: 'bench' }] },
      { name: 'proxied', match: { path: '/v2/models/plain/infer', methods: ['POST'] }, backends: [{ to: 'bench' }] },
      { name: 'flood', match: { path: '/flood/', prefix: true, methods: ['POST'] }, cache: { ttl: '1h' }, backends: [{ to: 'bench' }] },
      { name: 'slow', match: { path: '/slow', methods: ['POST'] }, timeout: '10s', cache: { ttl: '1h' }, backends: [{ to: 'bench' }] },
      ...(runtime ? [{ name: 'embeddings-runtime', match: { path: '/v1/embeddings', headers: { 'x-backend': 'runtime' } }, timeout: '30s', embeddingCache: { ttl: '1h' }, backends: [{ to: 'embedder' }] }] : []),
      { name: 'embeddings', match: { path: '/v1/embeddings' }, timeout: '30s', embeddingCache: { ttl: '1h' }, backends: [{ to: 'bench' }] },
    ],
    cache: { maxBytes: MAX_BYTES },
    // As users run it: access log on, to a file.
    telemetry: { tracing: false, accessLog: true },
  };
}

async function startOutrider(processes: Processes, dir: string, config: unknown, flags: readonly string[]): Promise<{ child: Child; data: string; admin: string }> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'outrider.yaml');
  writeFileSync(file, stringify(config));
  const log = join(dir, 'outrider.log');
  const fd = openSync(log, 'w');
  let child: Child;
  try {
    child = processes.start('outrider', process.execPath, [...flags, CLI, 'run', '-c', file], { cpu: PROXY_CPU, stdout: fd, cwd: REPO_ROOT });
  } finally {
    closeSync(fd);
  }
  const until = performance.now() + 60_000;
  while (performance.now() < until) {
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      if (!line.includes('"listening"')) continue;
      const e = JSON.parse(line) as { data: string; admin: string };
      const admin = `http://${e.admin}`;
      while ((await fetch(`${admin}/readyz`)).status !== 200) await new Promise((r) => setTimeout(r, 100));
      return { child, data: `http://${e.data}`, admin };
    }
    if (!child.running) throw new Error(child.describeExit());
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('outrider did not start within 60 s');
}

async function hitLatency(up: string, proxy: string): Promise<Record<string, unknown>> {
  const direct = new Pool(up, { connections: 1 });
  const viaProxy = new Pool(proxy, { connections: 1 });
  const per = quick ? 300 : 1000;
  try {
    await timed(direct, INFER_PATH, REQUEST_BODY, 300, null);
    await send(viaProxy, INFER_PATH, REQUEST_BODY);
    await timed(viaProxy, INFER_PATH, REQUEST_BODY, 300, 'hit');
    await timed(viaProxy, '/v2/models/plain/infer', REQUEST_BODY, 300, null);
    const out: Record<string, unknown> = {};
    for (const [mode, gap] of [['paced', 1], ['backToBack', 0]] as const) {
      const d: number[] = [], h: number[] = [], m: number[] = [];
      // Interleaved rounds: drift on a shared machine hits all three alike.
      for (let round = 0; round < ROUNDS; round++) {
        d.push(...await timed(direct, INFER_PATH, REQUEST_BODY, per, null, gap));
        h.push(...await timed(viaProxy, INFER_PATH, REQUEST_BODY, per, 'hit', gap));
        m.push(...await timed(viaProxy, '/v2/models/plain/infer', REQUEST_BODY, per, null, gap));
      }
      const [ds, hs, ms] = [sortedCopy(d), sortedCopy(h), sortedCopy(m)];
      out[mode] = {
        requestsEach: d.length, gapMs: gap,
        directP50Ms: r3(pct(ds, 50)), directP99Ms: r3(pct(ds, 99)),
        hitP50Ms: r3(pct(hs, 50)), hitP99Ms: r3(pct(hs, 99)),
        proxiedUncachedP50Ms: r3(pct(ms, 50)), proxiedUncachedP99Ms: r3(pct(ms, 99)),
        hitToDirectP50: r2(pct(hs, 50) / pct(ds, 50)),
        proxiedToDirectP50: r2(pct(ms, 50) / pct(ds, 50)),
      };
    }
    return out;
  } finally {
    await Promise.all([direct.close(), viaProxy.close()]);
  }
}

async function coalescing(up: string, proxy: string): Promise<Record<string, unknown>> {
  const pool = new Pool(proxy, { connections: 100 });
  const waves: { backendCalls: number; ms: number; results: Record<string, number> }[] = [];
  try {
    for (let wave = 0; wave < 3; wave++) {
      await fetch(`${up}/reset`, { method: 'POST' });
      const body = JSON.stringify({ wave, at: Date.now() });
      const start = performance.now();
      const all = await Promise.all(Array.from({ length: 100 }, () => send(pool, '/slow', body)));
      const ms = performance.now() - start;
      const results: Record<string, number> = {};
      for (const r of all) {
        if (r.status !== 200) throw new Error(`/slow answered ${r.status}`);
        const k = String(r.headers['x-outrider-cache']);
        results[k] = (results[k] ?? 0) + 1;
      }
      const counts = await getJson<Counts>(`${up}/count`);
      waves.push({ backendCalls: counts.calls['/slow'] ?? 0, ms: r2(ms), results });
    }
  } finally {
    await pool.close();
  }
  return { concurrent: 100, backendDelayMs: SLOW_MS, waves };
}

interface EmbeddingRow { p50Ms: number; itemsComputedPerRequest: number | null }

async function embeddings(up: string | null, proxy: string, label: string, headers: Record<string, string>): Promise<Record<string, unknown>> {
  const pool = new Pool(proxy, { connections: 1 });
  const batch = 32;
  const reps = quick ? 6 : 15;
  let serial = 0;
  const fresh = (n: number) => Array.from({ length: n }, () => `${label} sentence number ${serial++} about cached embeddings`);
  const post = async (input: string[], expect: string) => {
    const start = performance.now();
    const r = await send(pool, '/v1/embeddings', JSON.stringify({ input, model: 'bench' }), headers);
    const ms = performance.now() - start;
    if (r.status !== 200) throw new Error(`/v1/embeddings answered ${r.status}: ${r.body.toString().slice(0, 200)}`);
    if (r.headers['x-outrider-cache'] !== expect) throw new Error(`expected ${expect}, got ${String(r.headers['x-outrider-cache'])}`);
    const doc = JSON.parse(r.body.toString()) as { data: { index: number }[] };
    if (doc.data.length !== input.length || doc.data.some((d, i) => d.index !== i)) throw new Error('answer out of order');
    return ms;
  };
  const items = async () => (up === null ? null : (await getJson<Counts>(`${up}/count`)).items);
  try {
    await post(fresh(batch), 'miss');   // warm
    const none: number[] = [], half: number[] = [], all: number[] = [];
    let computedNone = 0, computedHalf = 0;
    for (let i = 0; i < reps; i++) {
      let before = await items();
      none.push(await post(fresh(batch), 'miss'));
      const afterNone = await items();
      if (before !== null && afterNone !== null) computedNone += afterNone - before;
      const cached = fresh(batch / 2);
      await post(cached, 'miss');
      const mixed = fresh(batch / 2).flatMap((x, k) => [x, cached[k]!]);
      before = await items();
      half.push(await post(mixed, 'partial'));
      const afterHalf = await items();
      if (before !== null && afterHalf !== null) computedHalf += afterHalf - before;
      all.push(await post(mixed, 'hit'));
    }
    const [n, h, a] = [sortedCopy(none), sortedCopy(half), sortedCopy(all)];
    const row = (s: number[], computed: number | null): EmbeddingRow => ({ p50Ms: r3(pct(s, 50)), itemsComputedPerRequest: computed === null ? null : computed / reps });
    return {
      backend: label, batch, requestsEach: reps, itemCostMs: up === null ? null : ITEM_COST_MS,
      noneCached: row(n, up === null ? null : computedNone),
      halfCached: row(h, up === null ? null : computedHalf),
      allCached: { p50Ms: r3(pct(a, 50)) },
      halfToNoneP50: r2(pct(h, 50) / pct(n, 50)),
    };
  } finally {
    await pool.close();
  }
}

async function flood(flags: readonly string[]): Promise<Record<string, number | string>> {
  const child = new Processes();
  const out = await child.run('flood', process.execPath, [...flags, join(REPO_ROOT, 'bench', 'cache', 'flood.ts'), String(KEYS), String(MAX_BYTES)], { cpu: null }, 600_000);
  const r = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  return {
    flags: flags.join(' ') || '(node defaults)',
    keys: r['keys']!, seconds: r2(r['seconds']!), storeMiB: r2(r['storeBytes']! / MiB), entries: r['entries']!,
    idleRssMiB: r2(r['idleRss']! / MiB), peakRssMiB: r2(r['peakRss']! / MiB), freshRssMiB: r2(r['freshRss']! / MiB),
    growthOverIdleMiB: r2((r['peakRss']! - r['idleRss']!) / MiB),
    growthOverFreshMiB: r2((r['peakRss']! - r['freshRss']!) / MiB),
    boundMiB: MAX_BYTES / MiB + 64,
  };
}

/**
 * A fresh Outrider (no runtime) under `flags`: RSS fresh, after a warm-up of repeated requests
 * (idle: the cache small, the runtime and GC warm), and at its peak under unique requests.
 */
async function proxyFlood(processes: Processes, dir: string, up: string, flags: readonly string[]): Promise<Record<string, number | string>> {
  const o = await startOutrider(processes, dir, benchConfig(up, false), flags);
  const fresh = rssBytes(o.child.pid);
  const pool = new Pool(o.data, { connections: 32 });
  const body = Buffer.from('{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[0.5]}]}');
  await Promise.all(Array.from({ length: 32 }, async (_, w) => {
    for (let i = 0; i < 600; i++) await send(pool, `/flood/warm/${(w * 600 + i) % 500}`, body);
  }));
  await new Promise((r) => setTimeout(r, 1_000));
  const idle = rssBytes(o.child.pid);
  let peak = idle;
  let sent = 0;
  let errors = 0;
  const start = performance.now();
  const deadline = start + 120_000;
  const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(o.child.pid)); }, 250);
  try {
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (sent < PROXY_KEYS && performance.now() < deadline) {
        const k = sent++;
        const r = await send(pool, `/flood/${k}`, body);
        if (r.status !== 200) errors++;
      }
    }));
  } finally {
    clearInterval(sampler);
    await pool.close();
  }
  peak = Math.max(peak, rssBytes(o.child.pid));
  const metrics = await (await fetch(`${o.admin}/metrics`)).text();
  const bytes = Number(/^outrider_cache_bytes (\S+)$/m.exec(metrics)?.[1] ?? NaN);
  await processes.stop(o.child);
  return {
    flags: flags.join(' ') || '(node defaults)',
    uniqueRequests: sent, errors, seconds: r2((performance.now() - start) / 1000),
    freshRssMiB: r2(fresh / MiB), idleRssMiB: r2(idle / MiB), peakRssMiB: r2(peak / MiB),
    growthOverIdleMiB: r2((peak - idle) / MiB), growthOverFreshMiB: r2((peak - fresh) / MiB),
    cacheBytesMiB: r2(bytes / MiB), maxBytesMiB: MAX_BYTES / MiB,
  };
}

async function main(): Promise<void> {
  const processes = new Processes();
  process.once('exit', () => processes.killAllNow());
  const dir = await mkdtemp(join(tmpdir(), 'outrider-bench-cache-'));
  const result: Record<string, unknown> = { startedAt: new Date().toISOString(), rounds: ROUNDS, maxBytesMiB: MAX_BYTES / MiB };
  try {
    const upChild = processes.start('upstream', process.execPath, [join(REPO_ROOT, 'bench', 'cache', 'upstream.ts')], { cpu: PROXY_CPU });
    const up = `http://127.0.0.1:${await waitForLine(upChild, portLine, 10_000)}`;
    pinSelf();
    say(`placement: ${PROXY_CPU === null ? 'unpinned (taskset missing or a single CPU allowed)' : `this process (the client) on CPU ${LOAD_CPU}, the upstream and Outrider on CPU ${PROXY_CPU}`}`);
    const o = await startOutrider(processes, join(dir, 'main'), benchConfig(up, true), HEAP_FLAGS);
    say(`upstream ${up}, outrider ${o.data} (admin ${o.admin}), cache.maxBytes ${MAX_BYTES / MiB} MiB`);

    if (only.has('hit')) {
      const hits = await hitLatency(up, o.data);
      result['hitLatency'] = hits;
      for (const [mode, v] of Object.entries(hits)) {
        const h = v as Record<string, number>;
        say(`1. [${mode}] hit p50 ${h['hitP50Ms']} ms vs direct ${h['directP50Ms']} ms: ${h['hitToDirectP50']}x (bar <= 1.2x); uncached through the proxy ${h['proxiedUncachedP50Ms']} ms: ${h['proxiedToDirectP50']}x`);
      }
    }

    if (only.has('coalescing')) {
      const co = await coalescing(up, o.data);
      result['coalescing'] = co;
      const waves = co['waves'] as { backendCalls: number; ms: number; results: Record<string, number> }[];
      say(`2. 100 concurrent identical -> backend calls per wave: ${waves.map((w) => w.backendCalls).join(', ')} (bar: 1); ${waves.map((w) => JSON.stringify(w.results)).join(' ')}`);
    }

    if (only.has('embeddings')) {
      const emb = await embeddings(up, o.data, 'loopback', {});
      const embRt = await embeddings(null, o.data, 'runtime', { 'x-backend': 'runtime' });
      result['embeddings'] = [emb, embRt];
      for (const e of [emb, embRt]) {
        const n = e['noneCached'] as EmbeddingRow, h = e['halfCached'] as EmbeddingRow;
        say(`3. embeddings (${String(e['backend'])}, batch ${String(e['batch'])}): 0% cached p50 ${n.p50Ms} ms${n.itemsComputedPerRequest === null ? '' : ` (${n.itemsComputedPerRequest} items computed)`}, 50% cached p50 ${h.p50Ms} ms${h.itemsComputedPerRequest === null ? '' : ` (${h.itemsComputedPerRequest} items computed)`}: ratio ${String(e['halfToNoneP50'])}; 100% cached p50 ${String((e['allCached'] as { p50Ms: number }).p50Ms)} ms`);
      }
    }

    await processes.stop(o.child);
    if (only.has('memory')) {
      const pfs = [await proxyFlood(processes, join(dir, 'flood-default'), up, []), await proxyFlood(processes, join(dir, 'flood-lean'), up, LEAN_FLAGS)];
      result['proxyFlood'] = pfs;
      for (const pf of pfs) {
        say(`4a. ${pf['uniqueRequests']} unique requests through the proxy [${pf['flags']}]: RSS fresh ${pf['freshRssMiB']}, idle ${pf['idleRssMiB']} -> peak ${pf['peakRssMiB']} MiB: +${pf['growthOverIdleMiB']} over idle, +${pf['growthOverFreshMiB']} over fresh; outrider_cache_bytes ${pf['cacheBytesMiB']} MiB of ${pf['maxBytesMiB']}`);
      }
      await processes.stopAll();

      const floods = [await flood([]), await flood(LEAN_FLAGS)];
      result['flood'] = floods;
      for (const f of floods) {
        say(`4b. ${f['keys']} unique keys into the store [${f['flags']}]: RSS idle ${f['idleRssMiB']} -> peak ${f['peakRssMiB']} MiB: +${f['growthOverIdleMiB']} MiB over idle, +${f['growthOverFreshMiB']} over a fresh process (bar <= ${f['boundMiB']}); store ${f['storeMiB']} MiB in ${f['entries']} entries; ${f['seconds']} s`);
      }
    }
  } finally {
    await processes.stopAll();
  }
  result['finishedAt'] = new Date().toISOString();
  const resultsDir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `cache-${String(result['startedAt']).replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  say(`results: ${file}`);
}

await main();
