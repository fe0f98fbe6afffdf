// 5× overload: offered load five times what the configured concurrency can carry. Outrider must
// shed the excess at once (503 overloaded + Retry-After), keep the admitted requests as fast as
// unloaded, keep its memory flat, and keep its admin port answering.
import { setTimeout as sleep } from 'node:timers/promises';
import { INFER_BODY, INFER_HEADERS, startModelServer } from '../fixtures/model-server.ts';
import { startLoad } from '../load.ts';
import { header, healthz, launch, metric, poll, scrape } from '../outrider.ts';
import { rssMiB } from '../injector/process.ts';
import { formatCounts, countBy, isOk, maxOf, ms, outcome, percentile } from '../samples.ts';
import { checkNoHang } from '../checks.ts';
import type { Scenario } from '../scenario.ts';

const INFER_MS = 40;
const MAX_IN_FLIGHT = 4;
/** Requests per second the proxy can carry: maxInFlight slots, each held INFER_MS. */
const CAPACITY = MAX_IN_FLIGHT / (INFER_MS / 1000);
const TIMEOUT_MS = 2_000;
const RSS_GROWTH_MIB = 64;

export const overload: Scenario = {
  name: 'overload-5x',
  fault: `offered load 5× capacity (${5 * CAPACITY} rps against maxInFlight ${MAX_IN_FLIGHT} × ${INFER_MS} ms upstream = ${CAPACITY} rps)`,
  criteria: {
    shed: 'every refused request is 503 `overloaded` with Retry-After; nothing else fails',
    shedFast: 'shed responses take < 1 ms of proxy time at p99 (access log headMs: arrival to the 503 handed to the socket)',
    admitted: 'admitted requests\' p99 stays within 2× the unloaded p99',
    goodput: 'admitted throughput stays ≥ 70% of capacity (shedding does not collapse goodput)',
    noHang: 'no request hangs: every one is answered within its deadline',
    memory: `Outrider's RSS during overload stays within +${RSS_GROWTH_MIB} MiB of its RSS under normal load`,
    admin: 'admin GET /healthz answers 200 in < 250 ms throughout',
    recovery: 'after the overload, requests at normal rate all succeed',
  },
  needs: [],
  timeoutMs: 90_000,
  async run(r) {
    const baseMs = r.short ? 2_000 : 5_000;
    const overMs = r.short ? 3_000 : 6_000;
    const up = await startModelServer({ inferMs: INFER_MS });
    r.defer(() => up.stop());
    const o = await launch(r, `${header(`{ maxInFlight: ${MAX_IN_FLIGHT}, drainTimeout: 5s }`)}
upstreams:
  - { name: model, endpoints: [${up.origin}] }
routes:
  - { name: infer, match: { path: /v2/models/, prefix: true }, timeout: ${TIMEOUT_MS}ms, backends: [ { to: model } ] }
`);
    const load = (rate: number, durationMs: number) => startLoad({
      origin: o.data, path: '/v2/models/m/infer', method: 'POST', body: INFER_BODY, headers: INFER_HEADERS,
      rate, durationMs, deadlineMs: TIMEOUT_MS,
    });

    // A fresh process answers its first requests slower (JIT, lazy initialisation, new
    // connections): warm it up so the baseline measures steady state, as the overload phase does.
    await load(0.3 * CAPACITY, 1_000).done();
    r.log(`unloaded: ${0.3 * CAPACITY} rps for ${baseMs} ms`);
    const base = await load(0.3 * CAPACITY, baseMs).done();
    const baseRss = (await rssMiB(o.proc.pid!)) ?? Number.NaN;
    const baseP99 = percentile(base.filter(isOk).map((s) => s.latencyMs), 99);
    r.figure('unloaded p99', ms(baseP99));
    r.figure('unloaded outcomes', formatCounts(countBy(base, outcome)));

    r.log(`overload: ${5 * CAPACITY} rps for ${overMs} ms`);
    const logMark = o.logs.length;
    const health = poll(r, 100, () => healthz(o.admin));
    const rss = poll(r, 200, async () => (await rssMiB(o.proc.pid!)) ?? Number.NaN);
    const over = load(5 * CAPACITY, overMs);
    const samples = await over.done();
    const healthProbes = await health.stop();
    const rssSeen = await rss.stop();

    const admitted = samples.filter(isOk);
    const refused = samples.filter((s) => !isOk(s));
    const shedOk = refused.filter((s) => s.status === 503 && s.code === 'overloaded' && s.retryAfter !== null);
    r.figure('overload outcomes', formatCounts(countBy(samples, outcome)));
    r.check('shed', refused.length > 0 && shedOk.length === refused.length,
      `${refused.length}/${samples.length} refused, ${shedOk.length} of them 503 overloaded with Retry-After (${formatCounts(countBy(refused, outcome))})`);

    await sleep(300);
    // Proxy time is headMs: from arrival to the whole 503 handed to the socket (bench/resilience
    // measures the same). durationMs also waits for the exchange's 'close', an event-loop turn
    // that other work can delay after the answer is already on its way: shown, not judged.
    const shedLines = o.logs.slice(logMark).filter((l) => l['msg'] === 'request' && l['code'] === 'overloaded');
    const shedLogs = shedLines.map((l) => Number(l['headMs']));
    const shedP99 = percentile(shedLogs, 99);
    r.figure('shed proxy time p50 / p90 / p99 / max', [50, 90, 99, 100].map((q) => ms(percentile(shedLogs, q))).join(' / '));
    r.figure('shed exchange time (durationMs) p99', ms(percentile(shedLines.map((l) => Number(l['durationMs'])), 99)));
    r.figure('shed client-seen p99', ms(percentile(shedOk.map((s) => s.latencyMs), 99)));
    // The same from the histogram: the share of shed requests (route "none") that took ≤ 1 ms.
    const m = await scrape(o.admin);
    const under1ms = metric(m, 'outrider_request_duration_seconds_bucket', { route: 'none', le: '0.001' }) / metric(m, 'outrider_request_duration_seconds_count', { route: 'none' });
    r.figure('shed ≤ 1 ms (histogram)', `${(under1ms * 100).toFixed(2)}%`);
    r.check('shedFast', shedLogs.length > 0 && shedP99 < 1, `p99 ${ms(shedP99)} over ${shedLogs.length} shed requests (access log); ${(under1ms * 100).toFixed(2)}% ≤ 1 ms (histogram)`);

    const admittedP99 = percentile(admitted.map((s) => s.latencyMs), 99);
    r.figure('admitted p99 under overload', ms(admittedP99));
    r.check('admitted', admittedP99 <= 2 * baseP99, `${ms(admittedP99)} vs unloaded ${ms(baseP99)} (ratio ${(admittedP99 / baseP99).toFixed(2)})`);

    const window = (over.stoppedAt - over.startedAt) / 1000;
    const goodput = admitted.length / window;
    r.figure('admitted rps', goodput);
    r.check('goodput', goodput >= 0.7 * CAPACITY, `${goodput.toFixed(0)} rps admitted of ${CAPACITY} rps capacity`);

    const all = [...base, ...samples];
    await checkNoHang(r, o, all, TIMEOUT_MS);

    const peak = maxOf(rssSeen);
    r.figure('RSS normal load (MiB)', baseRss);
    r.figure('RSS peak under overload (MiB)', peak);
    r.check('memory', peak <= baseRss + RSS_GROWTH_MIB, `peak ${peak.toFixed(1)} MiB vs ${baseRss.toFixed(1)} MiB before`);

    const healthBad = healthProbes.filter((h) => h.status !== 200 || h.ms >= 250);
    r.figure('admin /healthz max', ms(maxOf(healthProbes.map((h) => h.ms))));
    r.check('admin', healthProbes.length > 0 && healthBad.length === 0,
      `${healthProbes.length} probes, ${healthBad.length} failed or slow, max ${ms(maxOf(healthProbes.map((h) => h.ms)))}`);

    await sleep(200);
    const after = await load(0.3 * CAPACITY, 1_000).done();
    r.check('recovery', after.every(isOk), formatCounts(countBy(after, outcome)));
  },
};
