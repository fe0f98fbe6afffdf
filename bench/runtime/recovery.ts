// Recovery (issue 4): `mlp` at 2 replicas under a steady open-loop load; SIGKILL one replica's
// pid (from /runtimes) and keep the load on until it is ready again. Which requests failed (in
// flight on the killed replica, or not), and how long the replica took to be ready again
// against minBackoff + its warmup time, with the phases read from Outrider's state log lines.
//
// A SIGKILLed process is not gone at the signal: the kernel frees its memory before it closes
// its files, so for that teardown (~20-30 ms here, until the supervisor sees the exit) the
// replica's sockets still take requests that nobody will answer. Nothing can tell that replica
// from a live one until then, so a request the proxy handed it in that window was in flight on
// the killed replica as much as one sent before the signal. The access log (joined by request
// id) says which replica each request went to: "dying" requests are those sent to the killed
// replica before its exit was seen; every other failure, and any request routed to the killed
// replica after its exit was seen (before it is ready again), counts against the bar.
// Run on fresh instances: without route retries, then with them (SPEC §2 `retry`); each both
// without and with one warm spare process (restart.standby: 1), which the killed replica takes
// over once its backoff has passed instead of starting a new process.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bar } from './bench.ts';
import type { Bar, BenchContext, ScenarioResult } from './bench.ts';
import { histogram, paced } from './load.ts';
import type { PacedRecord, PacedRun } from './load.ts';
import { REPO_ROOT, inferPath, logRecords, replicas, standbys, startOutrider, waitReady } from './outrider.ts';
import type { OutriderInstance, ReplicaView } from './outrider.ts';
import { inferBody } from './payload.ts';
import { fmt, formatTable } from './report.ts';

const MLP = join(REPO_ROOT, 'examples', 'models', 'mlp.onnx');
const MIN_BACKOFF_MS = 500;
const VICTIM = 0;
const READY_AGAIN_TIMEOUT_MS = 60_000;

interface Variant {
  readonly name: string;
  readonly retry?: { readonly attempts: number; readonly on: readonly (string | number)[] };
  readonly standby?: number;
}

const RETRY = { attempts: 2, on: ['connect', 'reset', 503] } as const;
const VARIANTS: readonly Variant[] = [
  { name: 'retries off' },
  { name: 'retries on', retry: RETRY },
  { name: 'retries off, standby 1', standby: 1 },
  { name: 'retries on, standby 1', retry: RETRY, standby: 1 },
];

// What proxy/forward.ts answers when the replica under a request dies (SPEC §3 codes).
const MEANING: Readonly<Record<string, string>> = {
  bad_gateway: ' (reset: its connection to the killed replica broke under it)',
  unavailable: ' (connection refused: routed to the killed replica before the supervisor took it out)',
};

interface Failure {
  readonly sentMs: number;   // relative to the kill
  readonly doneMs: number;
  readonly status: number;
  readonly error: string | null;
  readonly endpoint: string | null;   // from the access log
}

/** Milliseconds after the kill at which the victim entered each state (first time), from the log. */
type Phases = Partial<Record<'crashed' | 'backoff' | 'starting' | 'warming' | 'ready', number>>;

interface VariantResult {
  readonly variant: string;
  readonly retries: boolean;
  readonly rate: number;
  readonly sent: number;
  readonly ok: number;
  readonly inFlightAtKill: number;
  readonly failedInFlight: number;
  readonly sentAfterKill: number;
  readonly failedAfterKill: number;
  readonly failedBeforeKill: number;
  /** Sent after the kill, to the killed replica, before its exit was seen (crash seen). */
  readonly sentToDying: number;
  readonly failedToDying: number;
  /** Failed after being routed to the killed replica, sent after its exit was seen and before it was ready again: should be none. */
  readonly routedToDead: number;
  /** Failed requests the access log has no line for (no x-request-id answer): not classified as dying. */
  readonly unjoined: number;
  readonly failures: readonly Failure[];
  readonly p50BeforeUs: number;
  readonly p99BeforeUs: number;
  readonly p99RecoveringUs: number;
  readonly phases: Phases;
  /** First boot of the same replica, start to ready: what a restart costs beside the backoff. */
  readonly firstBootMs: number | null;
  readonly readyAgainMs: number;
  readonly warmupSeconds: number;
  readonly expectedMs: number;
  readonly oldPid: number;
  readonly newPid: number | null;
}

/** The state transitions of one replica in Outrider's log, with their wall-clock times. */
function transitions(o: OutriderInstance, runtime: string, replica: number): { state: string; at: number }[] {
  const out: { state: string; at: number }[] = [];
  for (const e of logRecords(o, '"state"')) {
    // pino's `time`: epoch milliseconds (proxy/telemetry/log.ts); an ISO string from older logs.
    const at = typeof e.time === 'number' ? e.time : typeof e.time === 'string' ? Date.parse(e.time) : NaN;
    if (e.runtime === runtime && e.replica === replica && typeof e.state === 'string' && Number.isFinite(at)) out.push({ state: e.state, at });
  }
  return out;
}

/** Endpoint of each request by request id, from Outrider's access log (runtime replicas are `NAME/INDEX`). */
function endpoints(o: OutriderInstance): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const e of logRecords(o, '"msg":"request"')) {
    if (typeof e.requestId === 'string') out.set(e.requestId, typeof e.endpoint === 'string' ? e.endpoint : null);
  }
  return out;
}

/**
 * The access log once it holds a line for every answer that has a request id: lines reach the
 * file in batches, every 200 ms (proxy/telemetry/log.ts). After 5 s, what is there: a request
 * without its line is then unjoined, which counts against the bar.
 */
async function accessLogged(o: OutriderInstance, records: readonly PacedRecord[]): Promise<Map<string, string | null>> {
  const until = performance.now() + 5_000;
  for (;;) {
    const routed = endpoints(o);
    if (records.every((r) => r.requestId === null || routed.has(r.requestId)) || performance.now() > until) return routed;
    await sleep(100);
  }
}

async function untilAll(o: OutriderInstance, pred: (r: readonly ReplicaView[]) => boolean, timeoutMs: number, what: string): Promise<ReplicaView[]> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (!o.child.running) throw new Error(o.child.describeExit());
    const r = await replicas(o, 'mlp');
    if (pred(r)) return r;
    await sleep(10);
  }
  throw new Error(`${what} within ${timeoutMs} ms`);
}

async function runVariant(ctx: BenchContext, v: Variant, index: number): Promise<VariantResult> {
  const dir = join(ctx.tmp, `recovery-${index}`);
  mkdirSync(dir, { recursive: true });
  const o = await startOutrider(ctx.processes, {
    label: 'recovery', dir, timeout: '2s',
    ...(v.retry === undefined ? {} : { retry: v.retry }),
    runtimes: [{ name: 'mlp', model: MLP, replicas: 2, maxBatchSize: 32, maxQueueDelay: '2ms', warmupIterations: 20, minBackoff: `${MIN_BACKOFF_MS}ms`, ...(v.standby === undefined ? {} : { standby: v.standby }) }],
  }, ctx.placement.proxyCpu);
  let run: PacedRun | null = null;
  try {
    await waitReady(o, 120_000);
    const before = await untilAll(o, (r) => r.every((x) => x.state === 'ready'), 120_000, 'both mlp replicas were not ready');
    if (v.standby !== undefined) {
      const until = performance.now() + 60_000;
      while (!(await standbys(o, 'mlp')).some((s) => s.state === 'ready')) {
        if (performance.now() > until) throw new Error('no mlp standby was ready within 60 s');
        await sleep(20);
      }
    }
    const victim = before[VICTIM]!;
    if (victim.pid === null) throw new Error('/runtimes gives no pid for the replica to kill');
    const steadyS = ctx.opts.quick ? 1 : 3;
    run = paced(`${o.data}${inferPath('mlp')}`, inferBody(1), ctx.opts.rate);
    await sleep(steadyS * 1000);
    const killWall = Date.now();
    const killAt = performance.now();
    process.kill(victim.pid, 'SIGKILL');
    const after = await untilAll(o, (r) => r[VICTIM]!.state === 'ready' && r[VICTIM]!.pid !== victim.pid, READY_AGAIN_TIMEOUT_MS,
      `replica ${VICTIM} was not ready again after SIGKILL`);
    const readyPolledMs = performance.now() - killAt;
    await sleep(steadyS * 1000);
    const records = await run.stop();
    const routed = await accessLogged(o, records);

    const log = transitions(o, 'mlp', VICTIM);
    const phases: Phases = {};
    for (const t of log) {
      if (t.at < killWall) continue;
      const key = t.state as keyof Phases;
      if (['crashed', 'backoff', 'starting', 'warming', 'ready'].includes(key) && phases[key] === undefined) phases[key] = t.at - killWall;
    }
    const boot = log.filter((t) => t.at < killWall);
    const bootStart = boot.find((t) => t.state === 'starting');
    const bootReady = boot.find((t) => t.state === 'ready');
    const revived = after[VICTIM]!;
    const warmupSeconds = revived.warmupSeconds ?? 0;
    return analyse(v, ctx.opts.rate, records, killAt, routed, {
      phases,
      firstBootMs: bootStart !== undefined && bootReady !== undefined ? bootReady.at - bootStart.at : null,
      // The log's ready time (ms resolution, no polling delay) when it was seen, else the poll.
      readyAgainMs: phases.ready ?? readyPolledMs,
      warmupSeconds,
      expectedMs: MIN_BACKOFF_MS + warmupSeconds * 1000,
      oldPid: victim.pid,
      newPid: revived.pid,
    });
  } finally {
    // On a failure too: an open loop left running would keep the bench alive, sending to nothing.
    await run?.stop();
    await ctx.processes.stop(o.child, 20_000);
  }
}

type Timing = Pick<VariantResult, 'phases' | 'firstBootMs' | 'readyAgainMs' | 'warmupSeconds' | 'expectedMs' | 'oldPid' | 'newPid'>;

function analyse(v: Variant, rate: number, records: readonly PacedRecord[], killAt: number, routed: ReadonlyMap<string, string | null>, timing: Timing): VariantResult {
  const failed = (r: PacedRecord) => r.status !== 200;
  const victim = `mlp/${VICTIM}`;
  const endpoint = (r: PacedRecord) => (r.requestId === null ? null : routed.get(r.requestId) ?? null);
  // Without a crashed line (not expected), no window: every failure after the kill counts. The
  // log's times are whole milliseconds and the proxy routes a request a little after the client
  // sends it: 1 ms of slack.
  const seenAt = killAt + (timing.phases.crashed === undefined ? 0 : timing.phases.crashed + 1);
  const readyAt = killAt + timing.readyAgainMs;
  const inFlight = records.filter((r) => r.sentAt < killAt && r.doneAt >= killAt);
  const dying = new Set(records.filter((r) => r.sentAt >= killAt && r.sentAt < seenAt && endpoint(r) === victim));
  const afterKill = records.filter((r) => r.sentAt >= killAt && !dying.has(r));
  const beforeKill = records.filter((r) => r.doneAt < killAt);
  const steady = histogram();
  const recovering = histogram();
  for (const r of records) {
    if (failed(r)) continue;
    const us = Math.max(1, Math.round(r.us));
    if (r.doneAt < killAt) steady.recordValue(us);
    else if (r.sentAt >= killAt && r.sentAt < readyAt) recovering.recordValue(us);
  }
  return {
    variant: v.name,
    retries: v.retry !== undefined,
    rate,
    sent: records.length,
    ok: records.filter((r) => !failed(r)).length,
    inFlightAtKill: inFlight.length,
    failedInFlight: inFlight.filter(failed).length,
    sentAfterKill: afterKill.length,
    failedAfterKill: afterKill.filter(failed).length,
    failedBeforeKill: beforeKill.filter(failed).length,
    sentToDying: dying.size,
    failedToDying: [...dying].filter(failed).length,
    // Failed ones only: between its crash and its ready line the replica has no endpoint at all
    // (runtime/replica.ts), so a 200 from it near the ready edge came from the new process.
    routedToDead: records.filter((r) => failed(r) && r.sentAt >= seenAt && r.sentAt < readyAt && endpoint(r) === victim).length,
    unjoined: records.filter((r) => failed(r) && endpoint(r) === null).length,
    failures: records.filter(failed).map((r) => ({ sentMs: r.sentAt - killAt, doneMs: r.doneAt - killAt, status: r.status, error: r.error, endpoint: endpoint(r) })),
    p50BeforeUs: steady.getValueAtPercentile(50),
    p99BeforeUs: steady.getValueAtPercentile(99),
    p99RecoveringUs: recovering.getValueAtPercentile(99),
    ...timing,
  };
}

function phase(p: Phases, from: keyof Phases | null, to: keyof Phases): string {
  const end = p[to];
  const start = from === null ? 0 : p[from];
  return end === undefined || start === undefined ? '-' : fmt(end - start);
}

export async function recoveryScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const t0 = performance.now();
  const results: VariantResult[] = [];
  for (const [i, v] of VARIANTS.entries()) {
    const r = await runVariant(ctx, v, i);
    results.push(r);
    ctx.say(`  ${r.variant}: ${r.sent} requests at ${r.rate}/s, ${r.sent - r.ok} failed (${r.failedInFlight} of ${r.inFlightAtKill} in flight at the kill, ` +
      `${r.failedToDying} of ${r.sentToDying} sent to the dying replica, ${r.failedAfterKill} of ${r.sentAfterKill} other sent after it, ${r.unjoined} failed without an access-log line); ` +
      `replica ready again ${fmt(r.readyAgainMs)} ms after the kill ` +
      `(minBackoff + warmup = ${fmt(r.expectedMs)} ms)`);
  }
  const lines = [
    ...formatTable(['variant', 'requests', 'failed', 'in flight at kill', 'failed of them', 'to the dying replica', 'failed of them', 'other after kill', 'failed of them',
      'to it after exit seen', 'p99 before us', 'p99 while recovering us'],
      results.map((r) => [r.variant, String(r.sent), String(r.sent - r.ok), String(r.inFlightAtKill), String(r.failedInFlight), String(r.sentToDying), String(r.failedToDying),
        String(r.sentAfterKill), String(r.failedAfterKill), String(r.routedToDead), fmt(r.p99BeforeUs), fmt(r.p99RecoveringUs)])),
    '',
    ...formatTable(['variant', 'crash seen ms', 'backoff -> starting ms', 'spawn+load ms', 'warmup ms', 'ready again ms', 'minBackoff+warmupSeconds ms', 'first boot ms'],
      results.map((r) => [r.variant, phase(r.phases, null, 'crashed'), phase(r.phases, 'backoff', 'starting'), phase(r.phases, 'starting', 'warming'),
        phase(r.phases, 'warming', 'ready'), fmt(r.readyAgainMs), fmt(r.expectedMs), fmt(r.firstBootMs)])),
    '',
    `each variant: a fresh outrider, mlp with 2 replicas (maxBatchSize 32, maxQueueDelay 2ms, warmup iterations 20), restart minBackoff ${MIN_BACKOFF_MS}ms maxBackoff 30s;`,
    '"standby 1": restart.standby 1, one warm spare process started once both replicas are ready (the kill waits for it); the killed replica takes it over after its backoff,',
    'so spawn+load is ~0 and warmupSeconds is the spare\'s own, measured when it warmed.',
    `open-loop load at ${ctx.opts.rate} req/s (batch 1) for ${ctx.opts.quick ? 1 : 3} s, SIGKILL of replica ${VICTIM}'s pid from /runtimes, load kept on until /runtimes shows it ready with a new pid, then ${ctx.opts.quick ? 1 : 3} s more.`,
    '"in flight at kill": sent before the kill, answered after it (on either replica); "to the dying replica": sent after the kill but routed (access log, joined by request id)',
    `to replica ${VICTIM} before its exit was seen (crash seen): its sockets still took requests while the kernel tore the process down, so nothing could route around it yet;`,
    '"other after kill": every other new request; "to it after exit seen": failed on the killed replica though sent after its exit was seen, before it was ready again',
    '(should be 0; with retries the access log names the last attempt\'s replica only, so this column speaks for the retries-off variants).',
    'phases from outrider\'s "runtime replica state" log lines, ms after the kill: crash seen = crashed; backoff -> starting = the new process\'s launch: the delay (minBackoff for',
    'a first crash, decorrelated jitter after) less restart.bootAhead\'s head start (on by default without spares: what the replica\'s last start took, at most half the delay);',
    'spawn+load = starting -> warming; warmup = warming -> ready, including any wait for the backoff\'s end. "minBackoff+warmupSeconds": the bar, with warmupSeconds of the new replica',
    'from /runtimes.',
  ];
  for (const r of results) {
    const p = r.phases;
    if (p.backoff !== undefined && p.starting !== undefined && p.warming !== undefined && p.ready !== undefined) {
      lines.push(`  ${r.variant}: ready again ${fmt(r.readyAgainMs - r.expectedMs)} ms past minBackoff+warmupSeconds = crash detection ${fmt(p.backoff)} ` +
        `+ launch relative to minBackoff ${fmt(p.starting - p.backoff - MIN_BACKOFF_MS)} + spawn+load ${fmt(p.warming - p.starting)} ` +
        `+ (warming->ready minus warmupSeconds) ${fmt(p.ready - p.warming - r.warmupSeconds * 1000)} ms`);
    }
    for (const f of r.failures.slice(0, 5)) {
      lines.push(`  ${r.variant}: failed request sent ${fmt(f.sentMs, 1)} ms, answered ${fmt(f.doneMs, 1)} ms after the kill, on ${f.endpoint ?? 'an endpoint the access log does not name'}: ${f.status} ${f.error ?? ''}${MEANING[f.error ?? ''] ?? ''}`);
    }
    if (r.failures.length > 5) lines.push(`  ${r.variant}: ... ${r.failures.length - 5} more failures`);
  }
  const bars: Bar[] = [];
  for (const r of results) {
    if (r.retries) bars.push(bar(`failed requests (${r.variant})`, r.sent - r.ok, 'requests', { atMost: 0 }));
    else bars.push(bar(`failed requests not in flight on the killed replica (${r.variant})`, r.failedAfterKill + r.failedBeforeKill, 'requests', { atMost: 0 }));
    bars.push(bar(`requests routed to the killed replica after its exit was seen (${r.variant})`, r.routedToDead, 'requests', { atMost: 0 }));
    bars.push(bar(`SIGKILLed replica ready again (${r.variant})`, r.readyAgainMs, 'ms', { atMost: Math.round(r.expectedMs) }));
  }
  return { scenario: 'recovery', seconds: (performance.now() - t0) / 1000, lines, bars, figures: { minBackoffMs: MIN_BACKOFF_MS, variants: results } };
}
