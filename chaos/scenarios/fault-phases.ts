// Shared by the scenarios that put the injector between Outrider and a healthy upstream and
// step through network-level faults: one load phase per fault, each judged against what the
// injector says it did, then a clean phase to show the connection pool is healthy again.
import { INFER_BODY, INFER_HEADERS } from '../fixtures/model-server.ts';
import type { FaultRequest } from '../injector/client.ts';
import { alive } from '../injector/process.ts';
import { startLoad } from '../load.ts';
import type { Sample } from '../load.ts';
import { healthz, poll } from '../outrider.ts';
import { behindInjector } from './behind-injector.ts';
import { countBy, formatCounts, isOk, maxOf, ms, outcome } from '../samples.ts';
import { checkNoHang } from '../checks.ts';
import type { ScenarioRun } from '../scenario.ts';

/**
 * How a faulted exchange must look to the client:
 *  - head: no valid response head reached Outrider, so it answers 502 bad_gateway;
 *  - body: the head was valid and already forwarded (Outrider streams), so the client gets
 *    502 or a response cut before its end, never one that reads as complete;
 *  - declared: the upstream's framing is valid but declares less than it sends: the client
 *    gets what was declared, and the excess must not reach any other request.
 */
export type Expect = 'head' | 'body' | 'declared';

export interface Phase {
  readonly fault: FaultRequest;
  readonly label: string;
  readonly expect: Expect;
}

const TIMEOUT_MS = 1_000;

export const PHASE_CRITERIA = {
  shape: 'each phase faults ≥ 25% of its requests, and they fail the right way: no response head → 502 bad_gateway; a bad body after a good head → 502 or a response cut short (never a complete-looking 200)',
  collateral: 'requests the injector left alone all succeed with their own body: failures = faults injected, in every phase',
  noHang: 'no request hangs: each is answered within its 1 s deadline',
  alive: 'Outrider never crashes: same process throughout, admin /healthz 200 throughout, no `internal` errors',
  pool: 'once the faults stop, every request succeeds (the connection pool kept no broken connection)',
} as const;

function shapeOk(s: Sample, expect: Expect, label: string): boolean {
  const is502 = s.status === 502 && s.code === 'bad_gateway';
  switch (expect) {
    case 'head': return is502;
    case 'body': return is502 || (s.bodyError !== null && s.fault === label);
    case 'declared': return s.status === 200 && s.fault === label && s.bodyOk === false;
  }
}

export async function runFaultPhases(r: ScenarioRun, phases: readonly Phase[]): Promise<void> {
  // 60 per phase at the least: with p = 0.5, under a quarter faulted is a 4-sigma event.
  const rate = 60;
  const phaseMs = r.short ? 1_000 : 2_000;
  const { o, inj } = await behindInjector(r, `  - { name: infer, match: { path: /v2/models/, prefix: true }, timeout: ${TIMEOUT_MS}ms, backends: [ { to: model } ] }
`);
  const pid = o.proc.pid!;
  const health = poll(r, 100, () => healthz(o.admin));
  const load = () => startLoad({
    origin: o.data, path: '/v2/models/m/infer', method: 'POST', body: INFER_BODY, headers: INFER_HEADERS,
    rate, durationMs: phaseMs, deadlineMs: TIMEOUT_MS,
  }).done();
  const all: Sample[] = [];

  for (const p of phases) {
    await inj.set(p.fault);
    await inj.resetStats();
    const samples = await load();
    all.push(...samples);
    const stats = await inj.stats();
    const injected = stats.faulted[p.label] ?? 0;
    const failed = samples.filter((s) => !isOk(s));
    const wrong = failed.filter((s) => !shapeOk(s, p.expect, p.label));
    r.figure(`${p.label} outcomes`, formatCounts(countBy(samples, outcome)));
    r.figure(`${p.label} failed: max latency`, ms(maxOf(failed.map((s) => s.latencyMs))));
    // Every phase draws 50% of requests: fewer than a quarter faulted would test next to nothing.
    r.check('shape', injected >= samples.length / 4 && wrong.length === 0,
      `${p.label}: ${injected} injected, ${wrong.length} failed the wrong way${wrong.length > 0 ? ` (${formatCounts(countBy(wrong, outcome))})` : ''}`);
    r.check('collateral', failed.length === injected, `${p.label}: ${failed.length} failed / ${injected} injected / ${samples.length} sent`);
  }

  await inj.set({ mode: 'pass' });
  const clean = await load();
  all.push(...clean);
  r.check('pool', clean.length > 0 && clean.every(isOk), `${clean.filter(isOk).length}/${clean.length} ok after the faults (${formatCounts(countBy(clean, outcome))})`);

  await checkNoHang(r, o, all, TIMEOUT_MS + 50);

  const probes = await health.stop();
  const internal = o.logs.filter((l) => l['code'] === 'internal' || l['msg'] === 'internal error');
  const stillUp = alive(pid) && o.proc.exitCode === null;
  r.check('alive', stillUp && probes.every((h) => h.status === 200) && internal.length === 0,
    `process ${stillUp ? 'up' : 'GONE'}; ${probes.filter((h) => h.status === 200).length}/${probes.length} /healthz ok; ${internal.length} internal errors`);
}
