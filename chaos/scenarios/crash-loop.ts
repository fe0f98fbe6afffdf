// Runtimes that cannot stay up: one exits soon after every start (a crash loop), one allocates
// until its heap limit kills it (a memory blow-up, bounded by --max-old-space-size so it dies
// rather than eating the machine). A healthy runtime beside them must not notice; their own
// routes must fail fast, never hang; restarts must back off; Outrider's memory must stay flat.
import { setTimeout as sleep } from 'node:timers/promises';
import { INFER_BODY, INFER_HEADERS, processRuntimeYaml } from '../fixtures/model-server.ts';
import { alive, replicas, rssMiB } from '../injector/process.ts';
import { startLoad } from '../load.ts';
import type { Sample } from '../load.ts';
import { accessLog, header, healthz, launch, poll } from '../outrider.ts';
import { countBy, formatCounts, isOk, maxOf, ms, outcome, percentile } from '../samples.ts';
import { checkNoHang } from '../checks.ts';
import type { Scenario } from '../scenario.ts';
import { request } from 'undici';

const TIMEOUT_MS = 1_000;
const HEAP_MIB = 64;
const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 1_600;
// The healthy runtime keeps SPEC §2's default probe timings: the hog's dying GC burns a core, and
// on a 2-core machine the 200 ms probes the failing runtimes use can time out for a healthy one.
const STEADY_HEALTH = '{ path: /v2/health/ready, interval: 1s, timeout: 1s, startupTimeout: 10s, failureThreshold: 3 }';

export const crashLoop: Scenario = {
  name: 'runtime-crash-loop',
  fault: `runtime "crashy" exits 300 ms after each start; runtime "hog" allocates until its ${HEAP_MIB} MiB heap limit kills it; runtime "steady" is healthy`,
  criteria: {
    isolation: 'the healthy runtime\'s route answers 200 to every request throughout',
    failFast: 'requests to the failing runtimes get 200 (while a replica is up), 503 unavailable with Retry-After, or 502 for those caught by a crash; 503s take < 50 ms of proxy time at p99 (access log)',
    noHang: 'no request hangs or passes its deadline',
    backoff: `restarts back off (min ${MIN_BACKOFF_MS} ms doubling to ${MAX_BACKOFF_MS} ms): crashy restarts at least twice and no more than the backoff allows`,
    blowUp: 'the memory hog is killed by its heap limit and restarted; it never reaches the machine\'s memory',
    readyz: '/readyz answers 503 naming a failing runtime during the loop',
    proxyOk: 'Outrider stays up with flat memory (RSS within +64 MiB) and /healthz 200 throughout',
  },
  needs: [],
  timeoutMs: 60_000,
  async run(r) {
    const windowMs = r.short ? 4_000 : 7_000;
    const restart = `{ minBackoff: ${MIN_BACKOFF_MS}ms, maxBackoff: ${MAX_BACKOFF_MS}ms }`;
    const o = await launch(r, `${header()}
runtimes:
${processRuntimeYaml('steady', { inferMs: 5, health: STEADY_HEALTH })}
${processRuntimeYaml('crashy', { inferMs: 5, exitAfterMs: 300, restart, health: '{ path: /v2/health/ready, interval: 50ms, timeout: 500ms, startupTimeout: 10s }' })}
${processRuntimeYaml('hog', { inferMs: 5, blowUpAfterMs: 200, heapMiB: HEAP_MIB, restart, health: '{ path: /v2/health/ready, interval: 50ms, timeout: 500ms, startupTimeout: 10s }' })}
routes:
  - { name: steady, match: { path: /v2/models/steady/, prefix: true }, timeout: ${TIMEOUT_MS}ms, backends: [ { to: steady } ] }
  - { name: crashy, match: { path: /v2/models/crashy/, prefix: true }, timeout: ${TIMEOUT_MS}ms, backends: [ { to: crashy } ] }
  - { name: hog, match: { path: /v2/models/hog/, prefix: true }, timeout: ${TIMEOUT_MS}ms, backends: [ { to: hog } ] }
`, { waitReady: false });
    const pid = o.proc.pid!;
    const rss0 = (await rssMiB(pid)) ?? Number.NaN;
    const load = (model: string) => startLoad({
      origin: o.data, path: `/v2/models/${model}/infer`, method: 'POST', body: INFER_BODY, headers: INFER_HEADERS,
      rate: 30, durationMs: windowMs, deadlineMs: TIMEOUT_MS,
    });
    const health = poll(r, 100, () => healthz(o.admin));
    const rss = poll(r, 250, async () => (await rssMiB(pid)) ?? Number.NaN);
    const hogPeak: number[] = [];
    const hogRss = poll(r, 100, async () => {
      const p = (await replicas(o.admin, 'hog'))[0]?.pid ?? null;
      const v = p === null ? null : await rssMiB(p);
      if (v !== null) hogPeak.push(v);
      return v;
    });
    const readyz = poll(r, 200, async () => {
      const res = await request(`${o.admin}/readyz`);
      return { status: res.statusCode, body: await res.body.text() };
    });
    const [steady, crashy, hog] = await Promise.all([load('steady').done(), load('crashy').done(), load('hog').done()]);
    const [probes, rssSeen, , ready] = await Promise.all([health.stop(), rss.stop(), hogRss.stop(), readyz.stop()]);

    // The access log is flushed every 200 ms.
    await sleep(300);
    r.figure('steady', formatCounts(countBy(steady, outcome)));
    r.figure('crashy', formatCounts(countBy(crashy, outcome)));
    r.figure('hog', formatCounts(countBy(hog, outcome)));
    // The healthy runtime may still be starting when load begins (waitReady is off): judge it once it served.
    const firstOk = steady.findIndex(isOk);
    const steadyServed = firstOk === -1 ? [] : steady.slice(firstOk);
    r.check('isolation', steadyServed.length > 0 && steadyServed.every(isOk) && steady.slice(0, Math.max(0, firstOk)).every((s) => s.status === 503),
      `${steadyServed.filter(isOk).length}/${steadyServed.length} ok after its first answer (${firstOk} answered 503 while it started)`);

    const failing = [...crashy, ...hog];
    const allowed = (s: Sample) => isOk(s) || (s.status === 503 && s.code === 'unavailable' && s.retryAfter !== null) || (s.status === 502 && s.code === 'bad_gateway');
    const unexpected = failing.filter((s) => !allowed(s));
    const client503 = percentile(failing.filter((s) => s.status === 503).map((s) => s.latencyMs), 99);
    const proxy503 = accessLog(o).filter((l) => l['status'] === 503 && l['route'] !== 'steady');
    const proxyP99 = percentile(proxy503.map((l) => Number(l['durationMs'])), 99);
    r.figure('503 p99, client-seen', ms(client503));
    for (const [k, n] of Object.entries(countBy(proxy503, (l) => `${l['route']} ${l['detail']}`))) {
      const times = proxy503.filter((l) => `${l['route']} ${l['detail']}` === k).map((l) => Number(l['durationMs']));
      r.figure(`503 ${k}: count, proxy p99`, `${n}, ${ms(percentile(times, 99))}`);
    }
    r.check('failFast', unexpected.length === 0 && !(proxyP99 >= 50),
      `${unexpected.length} unexpected outcomes${unexpected.length > 0 ? ` (${formatCounts(countBy(unexpected, outcome))})` : ''}; 503 proxy time p99 ${ms(proxyP99)} (client-seen ${ms(client503)})`);
    const all = [...steady, ...failing];
    await checkNoHang(r, o, all, TIMEOUT_MS);

    const [steadyNow] = await replicas(o.admin, 'steady');
    r.figure('steady restarts', `${steadyNow?.restarts}${steadyNow?.lastError ? ` (last error: ${steadyNow.lastError})` : ''}`);
    const [crashyNow] = await replicas(o.admin, 'crashy');
    const [hogNow] = await replicas(o.admin, 'hog');
    // Each cycle lives ≥ 300 ms plus its backoff (200, 400, 800, 1600, 1600... ms).
    let budget = windowMs + 2_000;
    let most = 0;
    for (let b = MIN_BACKOFF_MS; budget > 0; b = Math.min(MAX_BACKOFF_MS, b * 2)) {
      budget -= 300 + b;
      most++;
    }
    r.figure('crashy restarts', crashyNow?.restarts ?? -1);
    r.figure('hog restarts', hogNow?.restarts ?? -1);
    r.check('backoff', crashyNow !== undefined && crashyNow.restarts >= 2 && crashyNow.restarts <= most,
      `crashy restarted ${crashyNow?.restarts} times in ~${windowMs} ms (at most ${most} with this backoff); last error: ${crashyNow?.lastError}`);
    r.figure('hog peak RSS (MiB)', maxOf(hogPeak));
    r.check('blowUp', hogNow !== undefined && hogNow.restarts >= 1 && maxOf(hogPeak) < 4 * HEAP_MIB + 128,
      `hog restarted ${hogNow?.restarts} times, peak RSS ${maxOf(hogPeak).toFixed(0)} MiB; last error: ${hogNow?.lastError}`);

    const named = ready.filter((x) => x.status === 503 && /crashy|hog/.test(x.body));
    r.check('readyz', named.length > 0, `${named.length}/${ready.length} /readyz polls answered 503 naming crashy or hog`);

    const peak = maxOf(rssSeen);
    r.figure('Outrider RSS start / peak (MiB)', `${rss0.toFixed(0)} / ${peak.toFixed(0)}`);
    r.check('proxyOk', alive(pid) && o.proc.exitCode === null && probes.every((h) => h.status === 200) && peak <= rss0 + 64,
      `process ${alive(pid) ? 'up' : 'GONE'}; ${probes.filter((h) => h.status === 200).length}/${probes.length} /healthz ok; RSS ${rss0.toFixed(0)} → peak ${peak.toFixed(0)} MiB`);
  },
};
