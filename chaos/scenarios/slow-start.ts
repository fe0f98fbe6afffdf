// A runtime that takes seconds to start (a model loading): until its replica is ready, Outrider
// is not ready (/readyz 503 naming it) and requests to it are refused at once, not queued or
// left hanging; once ready, they all succeed.
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { INFER_BODY, INFER_HEADERS, processRuntimeYaml } from '../fixtures/model-server.ts';
import { waitForReplica } from '../injector/process.ts';
import { startLoad } from '../load.ts';
import { accessLog, header, launch, poll } from '../outrider.ts';
import { countBy, formatCounts, isOk, ms, outcome, percentile, sentBetween } from '../samples.ts';
import { checkNoHang } from '../checks.ts';
import type { Scenario } from '../scenario.ts';

const TIMEOUT_MS = 1_000;
/** How long after the replica's ready /readyz may still answer that the proxy warms its forward path. */
const WARM_GRACE_MS = 2_000;

export const slowStart: Scenario = {
  name: 'runtime-slow-start',
  fault: 'a `kind: process` runtime that sleeps before listening (slow model load), under load from the first second',
  criteria: {
    readyz: '/readyz answers 503 naming the runtime until its replica is ready, then 200 (after at most 2 s of "warming the proxy\'s forward path")',
    refused: 'requests before it is ready get 503 unavailable with Retry-After in < 50 ms of proxy time at p99; none waits for the start',
    serves: 'every request sent after the replica is ready succeeds',
    noHang: 'no request hangs or passes its deadline',
  },
  needs: [],
  timeoutMs: 60_000,
  async run(r) {
    const delay = r.short ? 1_500 : 3_000;
    const o = await launch(r, `${header()}
runtimes:
${processRuntimeYaml('slow', { inferMs: 5, startDelayMs: delay })}
routes:
  - { name: infer, match: { path: /v2/models/, prefix: true }, timeout: ${TIMEOUT_MS}ms, backends: [ { to: slow } ] }
`, { waitReady: false });
    const readyz = poll(r, 100, async () => {
      const res = await request(`${o.admin}/readyz`);
      return { at: performance.now(), status: res.statusCode, body: await res.body.text() };
    });
    const load = startLoad({
      origin: o.data, path: '/v2/models/m/infer', method: 'POST', body: INFER_BODY, headers: INFER_HEADERS,
      rate: 40, durationMs: delay + 3_000, deadlineMs: TIMEOUT_MS,
    });
    await waitForReplica(o.admin, 'slow', 0, (x) => x.state === 'ready', delay + 10_000);
    const readyAt = performance.now();
    const samples = await load.done();
    const polls = await readyz.stop();
    await sleep(300);

    const notReady = polls.filter((p) => p.at < readyAt - 150);
    const afterReady = polls.filter((p) => p.at > readyAt + 150);
    // Between the replica's ready and /readyz 200, Outrider warms its own forward path (a few
    // dozen requests, logged as 'proxy forward path warmed'); /readyz says so while it does. On a
    // busy machine that can outlast the 150 ms margin, so those answers are allowed, but only
    // before the first 200 and within WARM_GRACE_MS of the replica's ready.
    const warming = (p: (typeof polls)[number]): boolean => p.status === 503 && p.body.includes('warming the proxy') && p.at < readyAt + WARM_GRACE_MS;
    const firstOk = afterReady.findIndex((p) => p.status === 200);
    const settled = firstOk >= 0 && afterReady.slice(0, firstOk).every(warming) && afterReady.slice(firstOk).every((p) => p.status === 200);
    const warmedLine = o.logs.find((l) => l['msg'] === 'proxy forward path warmed');
    r.figure('start to ready', ms(readyAt - load.startedAt));
    r.figure('forward-path warm', warmedLine === undefined ? 'not logged' : ms(Number(warmedLine['ms'])));
    const odd = afterReady.filter((p) => p.status !== 200).map((p) => `${Math.round(p.at - readyAt)} ms: ${p.status} ${p.body.replace(/\s+/g, ' ').slice(0, 120)}`);
    r.check('readyz', notReady.length > 0 && notReady.every((p) => p.status === 503 && p.body.includes('slow')) && settled,
      `${notReady.filter((p) => p.status === 503 && p.body.includes('slow')).length}/${notReady.length} polls 503 naming "slow" before ready; ${afterReady.filter((p) => p.status === 200).length}/${afterReady.length} 200 after${odd.length > 0 ? ` (the others: ${odd.join('; ')})` : ''}`);

    const early = sentBetween(samples, 0, readyAt);
    const refused = early.filter((s) => s.status === 503 && s.code === 'unavailable' && s.retryAfter !== null);
    const proxy503 = accessLog(o).filter((l) => l['status'] === 503).map((l) => Number(l['durationMs']));
    r.figure('before ready', formatCounts(countBy(early, outcome)));
    r.figure('503 proxy time p99', ms(percentile(proxy503, 99)));
    r.check('refused', refused.length > 0 && refused.length + early.filter(isOk).length === early.length && percentile(proxy503, 99) < 50,
      `${refused.length}/${early.length} refused 503 unavailable with Retry-After (${formatCounts(countBy(early, outcome))}); proxy time p99 ${ms(percentile(proxy503, 99))}`);

    const later = sentBetween(samples, readyAt, Number.POSITIVE_INFINITY);
    r.check('serves', later.length > 0 && later.every(isOk), `${later.filter(isOk).length}/${later.length} ok (${formatCounts(countBy(later, outcome))})`);
    await checkNoHang(r, o, samples, TIMEOUT_MS);
  },
};
