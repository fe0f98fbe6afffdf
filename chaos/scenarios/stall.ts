// An upstream that accepts and reads requests but never answers half of them (no policy configured): each such request must end at its deadline with 504, the rest must be
// unaffected, and Outrider must not keep the abandoned exchanges open.
import { setTimeout as sleep } from 'node:timers/promises';
import { INFER_BODY, INFER_HEADERS } from '../fixtures/model-server.ts';
import { startLoad } from '../load.ts';
import { proxySide, proxyTimes } from '../outrider.ts';
import { behindInjector } from './behind-injector.ts';
import { countBy, formatCounts, isOk, maxOf, ms, outcome, percentile } from '../samples.ts';
import type { Scenario } from '../scenario.ts';

const TIMEOUT_MS = 300;

export const stall: Scenario = {
  name: 'upstream-stall',
  fault: 'injector stalls 50% of requests (read, never answered); no retry or fallback configured',
  criteria: {
    deadline: `stalled requests end with 504 deadline_exceeded at their ${TIMEOUT_MS} ms deadline: Outrider answers never before it, never more than 50 ms after (its access log, arrival to response end)`,
    others: 'requests on healthy connections all succeed',
    noHang: 'no request hangs: the client gets every answer',
    released: 'Outrider closes the connections it gave up on: none is left stalled 1 s after the fault ends',
    recovery: 'after the fault ends, every request succeeds',
  },
  needs: [],
  timeoutMs: 60_000,
  async run(r) {
    const { o, inj } = await behindInjector(r, `  - { name: infer, match: { path: /v2/models/, prefix: true }, timeout: ${TIMEOUT_MS}ms, backends: [ { to: model } ] }
`);
    const load = (durationMs: number) => startLoad({
      origin: o.data, path: '/v2/models/m/infer', method: 'POST', body: INFER_BODY, headers: INFER_HEADERS,
      rate: 50, durationMs, deadlineMs: TIMEOUT_MS,
    }).done();
    await inj.set({ mode: 'stall', probability: 0.5 });
    const samples = await load(r.short ? 2_000 : 4_000);
    const stats = await inj.stats();
    await inj.set({ mode: 'pass' });

    // The access log reaches stdout within 200 ms.
    await sleep(300);
    const timedOut = samples.filter((s) => s.status === 504);
    const proxy = proxyTimes(o);
    const proxy504 = timedOut.map((s) => proxy.get(s.id) ?? Number.NaN);
    const inWindow = timedOut.filter((s) => {
      const t = proxy.get(s.id);
      return s.code === 'deadline_exceeded' && t !== undefined && t >= TIMEOUT_MS - 1 && t <= TIMEOUT_MS + 50;
    });
    r.figure('outcomes', formatCounts(countBy(samples, outcome)));
    r.figure('504 proxy time (access log) p50 / max', `${ms(percentile(proxy504, 50))} / ${ms(maxOf(proxy504))}`);
    r.figure('504 client-seen p50 / max', `${ms(percentile(timedOut.map((s) => s.latencyMs), 50))} / ${ms(maxOf(timedOut.map((s) => s.latencyMs)))}`);
    r.check('deadline', timedOut.length >= samples.length / 4 && inWindow.length === timedOut.length,
      `${timedOut.length} stalled → 504 (injector stalled ${stats.faulted['stall'] ?? 0}); ${inWindow.length} answered within [${TIMEOUT_MS}, ${TIMEOUT_MS + 50}] ms by Outrider's clock (max ${ms(maxOf(proxy504))}); client-seen max ${ms(maxOf(timedOut.map((s) => s.latencyMs)))}${inWindow.length < timedOut.length ? `; outside: ${proxySide(o, timedOut.filter((s) => !inWindow.includes(s)).map((s) => s.id))}` : ''}`);
    const others = samples.filter((s) => s.status !== 504);
    r.check('others', others.every(isOk), `${others.filter(isOk).length}/${others.length} ok (${formatCounts(countBy(others, outcome))})`);
    r.check('noHang', samples.every((s) => !s.hung), `${samples.filter((s) => s.hung).length} hung`);

    await sleep(1_000);
    const left = (await inj.stats()).stalled;
    r.check('released', left === 0, `${left} stalled connections still open`);
    const after = await load(1_000);
    r.check('recovery', after.every(isOk), formatCounts(countBy(after, outcome)));
  },
};
