// SIGTERM under load (SPEC §1): Outrider stops accepting, lets every request already in flight
// finish (they sit in a slow runtime), stops its runtimes, and exits 0.
import { setTimeout as sleep } from 'node:timers/promises';
import { INFER_BODY, INFER_HEADERS, processRuntimeYaml } from '../fixtures/model-server.ts';
import { alive, readyPid } from '../injector/process.ts';
import { startLoad } from '../load.ts';
import { header, launch } from '../outrider.ts';
import { countBy, formatCounts, isOk, maxOf, ms, outcome } from '../samples.ts';
import type { Scenario } from '../scenario.ts';

const INFER_MS = 250;
const TIMEOUT_MS = 2_000;
const DRAIN_MS = 5_000;

export const sigterm: Scenario = {
  name: 'sigterm-drain',
  fault: `SIGTERM to Outrider while requests are in flight in a runtime that takes ${INFER_MS} ms per request`,
  criteria: {
    inFlight: 'every request sent before the SIGTERM completes 200 with its own body (and some were in flight)',
    exit: `Outrider exits 0, within drainTimeout (${DRAIN_MS} ms) plus the runtime's stop grace`,
    refused: 'requests sent after the SIGTERM are refused or answered, never left hanging',
    runtimes: 'the runtime process is gone once Outrider has exited',
  },
  needs: [],
  timeoutMs: 60_000,
  async run(r) {
    const o = await launch(r, `${header(`{ drainTimeout: ${DRAIN_MS}ms }`)}
runtimes:
${processRuntimeYaml('slow', { inferMs: INFER_MS })}
routes:
  - { name: infer, match: { path: /v2/models/, prefix: true }, timeout: ${TIMEOUT_MS}ms, backends: [ { to: slow } ] }
`);
    const runtimePid = await readyPid(o.admin, 'slow', 0);
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => o.proc.once('exit', (code) => resolve({ code, at: performance.now() })));
    const load = startLoad({
      origin: o.data, path: '/v2/models/m/infer', method: 'POST', body: INFER_BODY, headers: INFER_HEADERS,
      rate: 40, durationMs: r.short ? 2_500 : 4_000, deadlineMs: TIMEOUT_MS,
    });
    await sleep(r.short ? 1_000 : 2_000);
    const signalAt = performance.now();
    o.proc.kill('SIGTERM');
    const exit = await exited;
    // Keep offering load a little past the exit: those requests must fail fast, not hang.
    await sleep(300);
    load.stop();
    const samples = await load.done();

    const before = samples.filter((s) => s.sentAt < signalAt);
    const inFlightAtSignal = before.filter((s) => s.endAt > signalAt).length;
    const failedBefore = before.filter((s) => !isOk(s));
    r.figure('in flight at SIGTERM', inFlightAtSignal);
    r.figure('sent before SIGTERM', formatCounts(countBy(before, outcome)));
    r.check('inFlight', inFlightAtSignal > 0 && failedBefore.length === 0,
      `${before.length - failedBefore.length}/${before.length} completed, ${inFlightAtSignal} of them in flight at the signal${failedBefore.length > 0 ? ` (${formatCounts(countBy(failedBefore, outcome))})` : ''}`);

    const exitMs = exit.at - signalAt;
    r.figure('SIGTERM to exit', ms(exitMs));
    r.check('exit', exit.code === 0 && exitMs <= DRAIN_MS + 2_000 + 1_000, `exit code ${exit.code} after ${ms(exitMs)}`);

    const after = samples.filter((s) => s.sentAt >= signalAt);
    const hung = after.filter((s) => s.hung);
    r.figure('sent after SIGTERM', formatCounts(countBy(after, outcome)));
    r.check('refused', hung.length === 0, `${after.length} sent after the signal: ${formatCounts(countBy(after, outcome))}; slowest ${ms(maxOf(after.map((s) => s.latencyMs)))}`);

    r.check('runtimes', !alive(runtimePid), `runtime pid ${runtimePid} ${alive(runtimePid) ? 'STILL ALIVE' : 'gone'}`);
  },
};
