// (b) 5× overload. The upstream serves each request in SERVICE_MS with no limit of its own; the
// proxy admits CONCURRENCY at a time (the route's maxConcurrent, then the edge's maxInFlight in
// a second proxy), so its capacity is CONCURRENCY / SERVICE_MS. Measured in one run: an unloaded
// phase at a fifth of capacity, then 5× capacity. Bars: shed answers take < 1 ms of proxy time at
// p99 (the access log's headMs: arrival to the 503 written; its durationMs, reported beside it,
// also holds the event-loop turn that reports the end of the exchange), and admitted requests'
// p99 stays within 2× the unloaded p99.
import { openLoop, quantile, round, withStalls } from './load.ts';
import type { Sample } from './load.ts';
import { settleLogs, startProxy } from './outrider.ts';
import type { Proxy } from './outrider.ts';
import type { Bar, ScenarioResult } from './result.ts';
import { serviceTime } from './upstreams.ts';

const SERVICE_MS = 40;
const CONCURRENCY = 4;
const CAPACITY = (CONCURRENCY * 1000) / SERVICE_MS;   // requests a second

export async function overloadScenario(quick: boolean): Promise<ScenarioResult> {
  const up = await serviceTime(SERVICE_MS);
  const seconds = quick ? 3 : 8;
  const figures: Record<string, number | string> = { serviceMs: SERVICE_MS, concurrency: CONCURRENCY, capacityPerSecond: CAPACITY, unloadedRate: CAPACITY / 5, overloadRate: CAPACITY * 5, secondsPerPhase: seconds };
  const bars: Bar[] = [];
  const variants = [
    { reason: 'route_concurrency', yaml: `routes: [ { name: r, match: { path: /infer }, maxConcurrent: ${CONCURRENCY}, backends: [ { to: u } ] } ]` },
    { reason: 'max_in_flight', yaml: `limits: { maxInFlight: ${CONCURRENCY} }\nroutes: [ { name: r, match: { path: /infer }, backends: [ { to: u } ] } ]` },
  ];
  try {
    for (const v of variants) {
      const proxy = await startProxy(`version: 1
listen: { data: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstreams: [ { name: u, endpoints: [${up.origin}] } ]
${v.yaml}
`);
      try {
        await openLoop(`${proxy.data}/infer`, CAPACITY / 5, 1);   // warm up: JIT, connection pools
        const calm = await withStalls(() => openLoop(`${proxy.data}/infer`, CAPACITY / 5, seconds));
        const cpuBefore = proxy.cpuMs();
        const busy = await withStalls(() => openLoop(`${proxy.data}/infer`, CAPACITY * 5, seconds));
        const cpuAfter = proxy.cpuMs();
        if (cpuBefore !== null && cpuAfter !== null) {
          // Every request of the phase (admitted ones cost more): an upper bound of a shed answer's CPU cost.
          figures[`${v.reason}.proxyCpuMsPerRequest`] = round((cpuAfter - cpuBefore) / busy.result.length, 3);
        }
        const unloaded = calm.result;
        const overload = busy.result;
        figures[`${v.reason}.loadgenStallMaxMs`] = `${calm.stallMaxMs} unloaded, ${busy.stallMaxMs} overloaded`;
        await settleLogs();
        const r = summarise(proxy, unloaded, overload);
        for (const [k, val] of Object.entries(r)) figures[`${v.reason}.${k}`] = typeof val === 'boolean' ? String(val) : val;
        figures[`${v.reason}.shedMetric`] = await proxy.metric('outrider_shed_total', { reason: v.reason });
        bars.push(
          { name: `${v.reason}: shed proxy time p99`, value: `${r.shedProxyP99Ms} ms`, limit: '< 1 ms', pass: r.shedProxyP99Ms < 1 },
          { name: `${v.reason}: admitted p99 / unloaded p99 (client)`, value: `${r.clientRatio}×`, limit: '≤ 2×', pass: r.clientRatio <= 2 },
          { name: `${v.reason}: shed answers with Retry-After and 503 overloaded`, value: `${r.shedCount} shed`, limit: '> 0', pass: r.shedCount > 0 && r.shedAllOverloaded },
        );
      } finally {
        await proxy.stop();
      }
    }
  } finally {
    await up.close();
  }
  return { name: '5x overload', figures, bars };
}

function summarise(proxy: Proxy, unloaded: readonly Sample[], overload: readonly Sample[]) {
  const byId = new Map(proxy.access.map((l) => [l.requestId, l]));
  const proxyMs = (samples: readonly Sample[]) => samples.map((s) => byId.get(s.requestId ?? '')?.durationMs).filter((x): x is number => x !== undefined);
  const admitted = overload.filter((s) => s.status === 200);
  const shed = overload.filter((s) => s.status === 503);
  const shedLines = shed.map((s) => byId.get(s.requestId ?? '')).filter((l) => l !== undefined);
  // The proxy's time for a shed answer: arrival to the 503 written (the access log's headMs).
  // durationMs also holds the event-loop turn that reports the end of the exchange.
  const shedHead = shedLines.map((l) => l.headMs ?? l.durationMs);
  const unloadedClientP99 = quantile(unloaded.map((s) => s.ms), 0.99);
  const admittedClientP99 = quantile(admitted.map((s) => s.ms), 0.99);
  const unloadedProxyP99 = quantile(proxyMs(unloaded), 0.99);
  const admittedProxyP99 = quantile(proxyMs(admitted), 0.99);
  return {
    unloadedErrors: unloaded.filter((s) => s.status !== 200).length,
    overloadRequests: overload.length,
    admitted: admitted.length,
    shedCount: shed.length,
    otherStatuses: overload.length - admitted.length - shed.length,
    shedAllOverloaded: shedLines.every((l) => l.code === 'overloaded'),
    shedProxyP50Ms: round(quantile(shedHead, 0.5), 3),
    shedProxyP90Ms: round(quantile(shedHead, 0.9), 3),
    shedProxyP99Ms: round(quantile(shedHead, 0.99), 3),
    shedExchangeP99Ms: round(quantile(shedLines.map((l) => l.durationMs), 0.99), 3),
    unloadedClientP99Ms: round(unloadedClientP99),
    admittedClientP99Ms: round(admittedClientP99),
    clientRatio: round(admittedClientP99 / unloadedClientP99),
    unloadedProxyP99Ms: round(unloadedProxyP99),
    admittedProxyP99Ms: round(admittedProxyP99),
    proxyRatio: round(admittedProxyP99 / unloadedProxyP99),
  };
}
