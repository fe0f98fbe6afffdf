// A runtime replica SIGKILLed under load. Without a retry policy, only the requests caught by
// the kill (inside the replica, or sent before the supervisor took it out of rotation) may fail;
// with `retry` on connect/reset, none may: for the fixture process and for a real ONNX worker.
// Either way the supervisor brings the replica back and nothing hangs.
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { INFER_BODY, INFER_HEADERS, processRuntimeYaml } from '../fixtures/model-server.ts';
import { readyPid, replicas, signal, waitForReplica } from '../injector/process.ts';
import { startLoad } from '../load.ts';
import type { Sample } from '../load.ts';
import { header, launch, metric, scrape } from '../outrider.ts';
import type { Running } from '../outrider.ts';
import { countBy, formatCounts, isOk, ms, outcome } from '../samples.ts';
import { checkNoHang } from '../checks.ts';
import type { Scenario, ScenarioRun } from '../scenario.ts';

const INFER_MS = 20;
const TIMEOUT_MS = 1_000;
const RATE = 100;
/** The supervisor sees the exit at once: the replica must be out of rotation this soon after the kill. */
const SETTLE_MS = 250;

interface Killed {
  readonly o: Running;
  readonly killAt: number;
  readonly inFlightAtKill: number;
  /** Kill to the supervisor taking the replica out of rotation. */
  readonly removedMs: number;
  /** From the kill to out of rotation, with the clocks' slack. */
  readonly window: number;
  /** Requests in flight at the kill or sent before the replica left rotation. */
  readonly exposed: number;
  readonly samples: readonly Sample[];
}

interface Target {
  /** A `runtimes:` item named "model" with two replicas. */
  readonly runtime: string;
  readonly path: string;
  readonly body: string;
  readonly verify?: (body: string, id: string) => boolean;
  /** How long the replica may take to be ready again. */
  readonly backWithinMs: number;
}

const FIXTURE: Target = {
  runtime: processRuntimeYaml('model', { inferMs: INFER_MS, replicas: 2 }),
  path: '/v2/models/m/infer',
  body: INFER_BODY,
  backWithinMs: 5_000,
};

const NO_HANG = 'no request hangs or passes its deadline';
const backCriterion = (withinMs: number) => `the killed replica is restarted and ready again (new pid, restarts = 1) within ${withinMs / 1000} s`;
const COMMON = { back: backCriterion(FIXTURE.backWithinMs), noHang: NO_HANG };
const RETRY = '    retry: { attempts: 2, on: [connect, reset, 502, 503], budget: 20 }\n';

async function killUnderLoad(r: ScenarioRun, route: string, target: Target = FIXTURE): Promise<Killed> {
  const o = await launch(r, `${header()}
runtimes:
${target.runtime}
routes:
  - name: infer
    match: { path: /v2/models/, prefix: true }
    timeout: ${TIMEOUT_MS}ms
    backends: [ { to: model } ]
${route}`);
  const victim = await readyPid(o.admin, 'model', 0);
  await readyPid(o.admin, 'model', 1);
  const loadMs = r.short ? 4_000 : 6_000;
  const load = startLoad({
    origin: o.data, path: target.path, method: 'POST', body: target.body, headers: INFER_HEADERS,
    rate: RATE, durationMs: loadMs, deadlineMs: TIMEOUT_MS, ...(target.verify === undefined ? {} : { verify: target.verify }),
  });
  await sleep(loadMs / 3);
  const killAt = performance.now();
  const killWall = Date.now();
  const inFlightAtKill = load.samples.filter((s) => s.endAt === 0).length;
  signal(victim, 'SIGKILL');
  r.log(`SIGKILL replica 0 (pid ${victim}) with ${inFlightAtKill} requests in flight`);
  let back: { pid: number | null; restarts: number } | null = null;
  let backMs = Number.NaN;
  try {
    back = await waitForReplica(o.admin, 'model', 0, (x) => x.state === 'ready' && x.pid !== null && x.pid !== victim, target.backWithinMs);
    backMs = performance.now() - killAt;
  } catch (e) {
    r.log((e as Error).message);
  }
  const samples = await load.done();
  // The supervisor's log line says when the replica left rotation (wall clock, ms).
  const crashed = await o.waitForLog((l) => l['msg'] === 'runtime replica crashed' && l['runtime'] === 'model' && l['replica'] === 0, 1_000).catch(() => null);
  const t = crashed?.['time'];
  const removedMs = typeof t === 'number' ? t - killWall : typeof t === 'string' ? Date.parse(t) - killWall : Number.NaN;
  r.figure('kill to out of rotation', ms(removedMs));
  const now = (await replicas(o.admin, 'model')).find((x) => x.replica === 0);
  r.figure('kill to ready again', ms(backMs));
  r.check('back', back !== null && back.restarts === 1, back === null ? `not ready again within ${ms(target.backWithinMs)} (now ${JSON.stringify(now)})` : `ready again after ${ms(backMs)}, pid ${victim} → ${back.pid}, restarts ${back.restarts}`);
  await checkNoHang(r, o, samples, TIMEOUT_MS);
  r.figure('outcomes', formatCounts(countBy(samples, outcome)));
  // 5 ms: the log's wall-clock time has millisecond resolution and the two clocks are read apart.
  const window = removedMs + 5;
  const exposed = samples.filter((s) => s.endAt >= killAt && s.sentAt <= killAt + window).length;
  return { o, killAt, inFlightAtKill, removedMs, window, exposed, samples };
}

export const sigkill: Scenario = {
  name: 'runtime-sigkill',
  fault: `SIGKILL to one of two \`kind: process\` runtime replicas at ${RATE} rps, no retry policy`,
  criteria: {
    bounded: `without retries, only the requests in flight at the kill or sent before the replica left rotation may fail, as 502 (reset) or 503 (connect); the replica leaves rotation within ${SETTLE_MS} ms`,
    ...COMMON,
  },
  needs: [],
  timeoutMs: 60_000,
  async run(r) {
    const k = await killUnderLoad(r, '');
    const failed = k.samples.filter((s) => !isOk(s));
    const outside = failed.filter((s) => s.sentAt > k.killAt + k.window || s.endAt < k.killAt || !(s.status === 502 || s.status === 503));
    r.figure('in flight at kill', k.inFlightAtKill);
    r.check('bounded', k.removedMs <= SETTLE_MS && outside.length === 0,
      `${failed.length} failed (${formatCounts(countBy(failed, outcome))}) of ${k.exposed} exposed (${k.inFlightAtKill} in flight at the kill, the rest sent in the ${ms(k.removedMs)} before it left rotation); ${outside.length} outside that window`);
  },
};

export const sigkillRetry: Scenario = {
  name: 'runtime-sigkill-retry',
  fault: `SIGKILL to one of two \`kind: process\` runtime replicas at ${RATE} rps, route with retry on connect/reset`,
  criteria: {
    none: 'no client sees an error: the requests caught by the kill are retried on the surviving replica',
    budget: 'retries stay within the route budget (outrider_retries_total ≤ 20% of requests + 1 pp)',
    ...COMMON,
  },
  needs: ['retry'],
  timeoutMs: 60_000,
  async run(r) {
    const k = await killUnderLoad(r, RETRY);
    const failed = k.samples.filter((s) => !isOk(s));
    r.check('none', failed.length === 0, `${failed.length} of ${k.samples.length} failed (${formatCounts(countBy(k.samples, outcome))}); ${k.exposed} exposed: ${k.inFlightAtKill} in flight at the kill, the rest sent in the ${ms(k.removedMs)} before it left rotation`);
    const m = await scrape(k.o.admin);
    const retries = metric(m, 'outrider_retries_total', { route: 'infer' });
    r.figure('retries', retries);
    r.check('budget', retries <= 0.21 * k.samples.length, `${retries} retries for ${k.samples.length} requests`);
  },
};

const MLP = fileURLToPath(new URL('../../examples/models/mlp.onnx', import.meta.url));
const ONNX: Target = {
  runtime: `  - { name: model, kind: onnx, model: ${JSON.stringify(MLP)}, replicas: 2, warmup: { iterations: 5 }, restart: { minBackoff: 200ms, maxBackoff: 2s } }`,
  path: '/v2/models/model/infer',
  body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: Array.from({ length: 64 }, (_, i) => i / 64) }] }),
  // The worker does not echo a request id: a complete answer has the model's 10 logits.
  verify: (body) => {
    try {
      return (JSON.parse(body) as { outputs?: { data?: unknown[] }[] }).outputs?.[0]?.data?.length === 10;
    } catch {
      return false;
    }
  },
  backWithinMs: 10_000,
};

export const onnxSigkill: Scenario = {
  name: 'onnx-sigkill-retry',
  fault: `SIGKILL to one of two \`kind: onnx\` worker replicas (examples/models/mlp.onnx) at ${RATE} rps, route with retry on connect/reset`,
  criteria: {
    none: 'no client sees an error: the requests caught by the kill are retried on the surviving worker',
    back: backCriterion(ONNX.backWithinMs),
    noHang: NO_HANG,
  },
  needs: ['retry'],
  timeoutMs: 60_000,
  async run(r) {
    const k = await killUnderLoad(r, RETRY, ONNX);
    const failed = k.samples.filter((s) => !isOk(s));
    r.check('none', failed.length === 0, `${failed.length} of ${k.samples.length} failed (${formatCounts(countBy(k.samples, outcome))}); ${k.exposed} exposed: ${k.inFlightAtKill} in flight at the kill, the rest sent in the ${ms(k.removedMs)} before it left rotation`);
    r.figure('retries', metric(await scrape(k.o.admin), 'outrider_retries_total', { route: 'infer' }));
  },
};
