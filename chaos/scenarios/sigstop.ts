// A hung runtime: SIGSTOP leaves its socket accepting connections that are never answered (the
// kernel completes the handshakes). Requests must end within their deadline, the breaker must
// open so that the fallback answers at once instead of after the attempt timeout, and SIGCONT
// must bring the primary back through a half-open probe.
import { setTimeout as sleep } from 'node:timers/promises';
import { INFER_BODY, INFER_HEADERS, processRuntimeYaml } from '../fixtures/model-server.ts';
import { readyPid, signal } from '../injector/process.ts';
import { startLoad } from '../load.ts';
import { header, launch, metric, poll, proxySide, proxyTimes, scrape } from '../outrider.ts';
import { countBy, formatCounts, isOk, maxOf, ms, outcome, percentile, sentBetween } from '../samples.ts';
import type { Scenario } from '../scenario.ts';

const TIMEOUT_MS = 400;
const OPEN_FOR_MS = 1_000;
const RATE = 50;
/** With a fallback and no attemptTimeout, the primary path gets 75% of the budget (SPEC §2). */
const ATTEMPT_MS = 0.75 * TIMEOUT_MS;
/** An answer this fast did not wait for the attempt timeout. */
const FAST_MS = ATTEMPT_MS / 2;

export const sigstop: Scenario = {
  name: 'runtime-sigstop',
  fault: 'SIGSTOP to the only replica of the primary runtime (hung: connections accepted, never answered), SIGCONT later; route has breaker + fallback [to: backup, static]',
  criteria: {
    deadline: `every request is answered within its deadline + 50 ms (${TIMEOUT_MS + 50} ms, Outrider's access log: arrival to response end), and none hangs at the client`,
    answered: 'while the primary is stopped every request gets an answer: 200 from the fallback (x-outrider-degraded) or 503 unavailable, never 504',
    opens: `the primary's breaker opens (outrider_breaker_state 2) while it is stopped; from then the fallback answers without waiting for the attempt timeout (${ATTEMPT_MS} ms): in < ${FAST_MS} ms, but for the half-open probes (at most one per openFor), which do wait for it`,
    recovery: `after SIGCONT the breaker closes again (within openFor ${OPEN_FOR_MS} ms + 2 s) and the primary serves every request undegraded`,
  },
  needs: ['breaker', 'fallback'],
  timeoutMs: 90_000,
  async run(r) {
    const beforeMs = 2_000;
    const stopMs = r.short ? 3_000 : 4_000;
    const afterMs = 4_000;
    // Probes every 1 s with 30 allowed failures: the supervisor must not restart the stopped
    // replica during the window, or the scenario would test a restart instead of a hang.
    const health = '{ path: /v2/health/ready, interval: 1s, timeout: 1s, startupTimeout: 10s, failureThreshold: 30 }';
    const o = await launch(r, `${header()}
runtimes:
${processRuntimeYaml('primary', { inferMs: 5, health })}
${processRuntimeYaml('backup', { inferMs: 5 })}
routes:
  - name: infer
    match: { path: /v2/models/, prefix: true }
    timeout: ${TIMEOUT_MS}ms
    backends: [ { to: primary } ]
    breaker: { failureRate: 50, minRequests: 10, window: 2s, openFor: ${OPEN_FOR_MS}ms }
    fallback:
      - to: backup
      - static: { status: 200, json: { outputs: [] } }
`);
    const victim = await readyPid(o.admin, 'primary', 0);
    const states: { at: number; state: number }[] = [];
    const watch = poll(r, 50, async () => {
      const state = metric(await scrape(o.admin), 'outrider_breaker_state', { backend: 'primary' });
      states.push({ at: performance.now(), state });
      return state;
    });
    const load = startLoad({
      origin: o.data, path: '/v2/models/m/infer', method: 'POST', body: INFER_BODY, headers: INFER_HEADERS,
      rate: RATE, durationMs: beforeMs + stopMs + afterMs, deadlineMs: TIMEOUT_MS,
      // The static rung answers {"outputs":[]}: a valid answer, though not this request's own.
      verify: (body, id) => body.includes(`"id":"${id}"`) || body === '{"outputs":[]}',
    });
    r.defer(() => { try { signal(victim, 'SIGCONT'); } catch { /* already gone */ } });
    await sleep(beforeMs);
    const stopAt = performance.now();
    signal(victim, 'SIGSTOP');
    r.log(`SIGSTOP primary (pid ${victim})`);
    await sleep(stopMs);
    const contAt = performance.now();
    signal(victim, 'SIGCONT');
    r.log('SIGCONT');
    const samples = await load.done();
    await watch.stop();
    await sleep(300);

    const proxy = proxyTimes(o);
    const proxyLate = samples.filter((s) => !((proxy.get(s.id) ?? Number.POSITIVE_INFINITY) <= TIMEOUT_MS + 50));
    const hung = samples.filter((s) => s.hung);
    const proxyMax = maxOf(samples.map((s) => proxy.get(s.id) ?? Number.NaN));
    const clientMax = maxOf(samples.map((s) => s.latencyMs));
    r.figure('outcomes', formatCounts(countBy(samples, outcome)));
    r.figure('answer time max: Outrider / client-seen', `${ms(proxyMax)} / ${ms(clientMax)}`);
    r.check('deadline', proxyLate.length === 0 && hung.length === 0,
      `${proxyLate.length} of ${samples.length} answered later than ${TIMEOUT_MS + 50} ms by Outrider's clock (max ${ms(proxyMax)}${proxyLate.length > 0 ? `; ${proxySide(o, proxyLate.map((s) => s.id))}` : ''}); ${hung.length} hung at the client (client-seen max ${ms(clientMax)})`);

    const during = sentBetween(samples, stopAt, contAt);
    const badDuring = during.filter((s) => !((isOk(s) && s.degraded !== null) || (s.status === 503 && s.code === 'unavailable')));
    r.figure('while stopped', formatCounts(countBy(during, (s) => `${outcome(s)}${s.degraded === null ? '' : ` ${s.degraded}`}`)));
    r.check('answered', during.length > 0 && badDuring.length === 0,
      `${during.length - badDuring.length}/${during.length} answered by the fallback or 503${badDuring.length > 0 ? `; others: ${formatCounts(countBy(badDuring, outcome))}` : ''}`);

    const opened = states.find((x) => x.at >= stopAt && x.state === 2);
    const afterOpen = opened === undefined ? [] : sentBetween(samples, opened.at, contAt);
    const slow = afterOpen.filter((s) => s.latencyMs >= FAST_MS);
    // A probe goes out each time openFor has passed: the window holds at most this many.
    const probes = opened === undefined ? 0 : Math.ceil((contAt - opened.at) / OPEN_FOR_MS);
    const fast = afterOpen.filter((s) => s.latencyMs < FAST_MS);
    r.figure('stop to breaker open', opened === undefined ? 'never' : ms(opened.at - stopAt));
    r.figure(`answers once open: < ${FAST_MS} ms / slower`, `${fast.length} / ${slow.length} (${slow.map((s) => ms(s.latencyMs)).join(', ')})`);
    r.figure('fallback p50 / p99 once open', `${ms(percentile(fast.map((s) => s.latencyMs), 50))} / ${ms(percentile(afterOpen.map((s) => s.latencyMs), 99))}`);
    r.check('opens', opened !== undefined && afterOpen.length > 0 && slow.length <= probes && afterOpen.every((s) => s.degraded !== null || s.status === 503),
      opened === undefined ? `the breaker never opened (states seen: ${[...new Set(states.map((x) => x.state))].join(', ')})` : `opened ${ms(opened.at - stopAt)} after the stop; then ${fast.length} answers < ${FAST_MS} ms and ${slow.length} slower (at most ${probes} probes allowed)`);

    const closed = states.find((x) => x.at >= contAt && x.state === 0);
    const tail = sentBetween(samples, closed?.at ?? Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
    const tailOk = tail.filter((s) => isOk(s) && s.degraded === null && s.backend === 'primary');
    r.figure('SIGCONT to breaker closed', closed === undefined ? 'never' : ms(closed.at - contAt));
    r.check('recovery', closed !== undefined && closed.at - contAt <= OPEN_FOR_MS + 2_000 && tail.length > 0 && tailOk.length === tail.length,
      closed === undefined ? 'the breaker did not close after SIGCONT' : `closed ${ms(closed.at - contAt)} after SIGCONT; then ${tailOk.length}/${tail.length} served by primary undegraded`);
  },
};
