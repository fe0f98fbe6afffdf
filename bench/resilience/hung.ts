// (a) One backend fully hung: every request must be answered (fallback or 503/504) within its
// deadline + 50 ms, none may hang. Three routes in front of the same hung upstream: no fallback,
// a static fallback, and a breaker with a static fallback (which opens and answers at once).
import { openLoop, max, quantile, round, withStalls } from './load.ts';
import { settleLogs, startProxy } from './outrider.ts';
import type { ScenarioResult } from './result.ts';
import { hung } from './upstreams.ts';

const DEADLINE_MS = 300;
const RATE = 100;

export async function hungScenario(quick: boolean): Promise<ScenarioResult> {
  const up = await hung();
  const proxy = await startProxy(`version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
limits: { drainTimeout: 1s }
upstreams: [ { name: hung, endpoints: [${up.origin}] } ]
routes:
  - { name: warm, match: { path: /warm }, timeout: ${DEADLINE_MS}ms, backends: [ { to: hung } ] }
  - { name: plain, match: { path: /plain }, timeout: ${DEADLINE_MS}ms, backends: [ { to: hung } ] }
  - { name: static, match: { path: /static }, timeout: ${DEADLINE_MS}ms, backends: [ { to: hung } ], fallback: [ { static: { status: 200, json: { outputs: [] } } } ] }
  - name: breaker
    match: { path: /breaker }
    timeout: ${DEADLINE_MS}ms
    backends: [ { to: hung } ]
    breaker: { failureRate: 50, minRequests: 20, window: 10s, openFor: 5s }
    fallback: [ { static: { status: 200, json: { outputs: [] } } } ]
`);
  const seconds = quick ? 3 : 10;
  const figures: Record<string, number | string> = { deadlineMs: DEADLINE_MS, ratePerRoute: RATE, secondsPerRoute: seconds };
  let worstClient = 0;
  let worstProxy = 0;
  let total = 0;
  let unanswered = 0;
  try {
    // Warm-up, not measured: JIT and connection pools, on a route the measured ones do not share state with.
    await openLoop(`${proxy.data}/warm`, RATE, 1);
    for (const route of ['plain', 'static', 'breaker']) {
      const { result: samples, stallMaxMs } = await withStalls(() => openLoop(`${proxy.data}/${route}`, RATE, seconds));
      await settleLogs();
      const ids = new Set(samples.map((s) => s.requestId));
      const proxyMs = proxy.access.filter((l) => ids.has(l.requestId)).map((l) => l.durationMs);
      const clientMs = samples.map((s) => s.ms);
      const statuses: Record<string, number> = {};
      for (const s of samples) statuses[s.status] = (statuses[s.status] ?? 0) + 1;
      figures[`${route}.statuses`] = Object.entries(statuses).map(([k, v]) => `${k}×${v}`).join(' ');
      figures[`${route}.clientP99Ms`] = round(quantile(clientMs, 0.99));
      figures[`${route}.clientMaxMs`] = round(max(clientMs));
      figures[`${route}.proxyP50Ms`] = round(quantile(proxyMs, 0.5));
      figures[`${route}.proxyP99Ms`] = round(quantile(proxyMs, 0.99));
      figures[`${route}.proxyMaxMs`] = round(max(proxyMs));
      figures[`${route}.loadgenStallMaxMs`] = stallMaxMs;
      worstClient = Math.max(worstClient, max(clientMs));
      worstProxy = Math.max(worstProxy, max(proxyMs));
      total += samples.length;
      unanswered += samples.filter((s) => s.status === 0).length;
    }
  } finally {
    await proxy.stop();
    await up.close();
  }
  figures['requests'] = total;
  return {
    name: 'hung backend',
    figures,
    bars: [
      { name: 'max proxy time over all requests', value: `${round(worstProxy)} ms`, limit: `< ${DEADLINE_MS + 50} ms`, pass: worstProxy < DEADLINE_MS + 50 },
      { name: 'max client-observed time over all requests', value: `${round(worstClient)} ms`, limit: `< ${DEADLINE_MS + 50} ms`, pass: worstClient < DEADLINE_MS + 50 },
      { name: 'requests without an answer', value: String(unanswered), limit: '0', pass: unanswered === 0 },
    ],
  };
}
