// `npm run bench:gpu`: the PyTorch example (examples/gpu/) behind Outrider, measured against
// the same server reached directly, on whatever device torch finds (a GPU when there is one).
//
//   cold start   spawn of `outrider run` -> /readyz 200 (CUDA context, model load, warmup)
//   pinning      the device line the server logs, and /runtimes' device for the replica
//   outputs      logits through Outrider vs a second server on the CPU (max |difference|)
//   overhead     closed loops of 1 and 16 clients, direct vs through Outrider, same server
//   recovery     SIGKILL of the server -> /readyz 200 again with a new pid
//   stop         SIGTERM to Outrider -> it exits 0 and the server process is gone
//   reload       two replicas on the first device; POST /config/reload with a changed runtime
//                under load -> new replicas beside the old, old ones drained, no failed request
//   missing GPU  (--torch-device cuda only) a replica pinned to CUDA_VISIBLE_DEVICES=99
//                -> /readyz 503 and the server's reason in /runtimes
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from '../args.ts';
import { parse, stringify } from 'yaml';
import { alive } from '../../chaos/injector/process.ts';
import { freePort } from '../../runtime/process/free-port.ts';
import { Processes, waitForLine } from '../overhead/processes.ts';
import { REPO_ROOT } from '../overhead/outrider.ts';
import { closedLoop, OneClient, type ClosedLoopResult } from '../runtime/load.ts';
import { errorLines, replicas, runOutrider, waitReady, type OutriderInstance, type ReplicaView } from '../runtime/outrider.ts';
import { fmt, formatTable, ratio } from '../runtime/report.ts';

const USAGE = `usage: npm run bench:gpu -- [--python PATH] [--gpu 0] [--torch-device auto|cuda] [--duration S] [--out FILE]
  --python PATH   the Python with torch, aiohttp and numpy (default: $OUTRIDER_PYTHON or /usr/bin/python3)
  --gpu N         the CUDA device the replicas are pinned to (default 0)
  --torch-device  server.py's --device: auto (the CPU when torch sees no GPU) or cuda (refuse)
  --duration S    measured seconds of each load run (default 5; 1 s of warmup before each)
  --out FILE      the JSON result (default bench/results/gpu-<time>.json)`;

const EXAMPLE = join(REPO_ROOT, 'examples', 'gpu');
const RUNTIME = 'resnet-bench';
const INFER = '/v2/models/resnet/infer';
const READY_TIMEOUT_MS = 90_000;

const args = benchArgs({
  python: { type: 'string', default: process.env.OUTRIDER_PYTHON ?? '/usr/bin/python3' },
  gpu: { type: 'string', default: '0' },
  'torch-device': { type: 'string', default: 'auto' },
  duration: { type: 'string', default: '5' },
  out: { type: 'string' },
}, USAGE);
const duration = Number(args.duration);
if (!Number.isFinite(duration) || duration <= 0) {
  console.error(`--duration: expected a positive number of seconds, got "${args.duration}"\n${USAGE}`);
  process.exit(2);
}
const gpu = args.gpu;
const torchDevice = args['torch-device'];
if (!/^\d+$/.test(gpu) || (torchDevice !== 'auto' && torchDevice !== 'cuda')) {
  console.error(`--gpu is a device number and --torch-device is auto or cuda\n${USAGE}`);
  process.exit(2);
}

interface Setup {
  readonly file: string;
  readonly devices: readonly string[];
  /** Added to the runtime's env: a change of it is a change of the runtime (a reload replaces it). */
  readonly generation: number;
}

/** examples/gpu/outrider.yaml with absolute paths, ports 0 and this run's python and devices. */
function writeConfig(s: Setup): string {
  const doc = parse(readFileSync(join(EXAMPLE, 'outrider.yaml'), 'utf8')) as {
    listen: unknown; runtimes: Record<string, unknown>[]; routes: Record<string, unknown>[];
  };
  const rt = doc.runtimes[0]!;
  const command = rt.command as string[];
  rt.name = RUNTIME;
  rt.command = [args.python, join(EXAMPLE, command[1]!), ...command.slice(2, -1), torchDevice];
  rt.devices = [...s.devices];
  rt.replicas = s.devices.length;
  rt.env = { ...(rt.env as Record<string, string>), GENERATION: String(s.generation) };
  const warmup = rt.warmup as { requests: { bodyFile: string }[] };
  for (const r of warmup.requests) r.bodyFile = join(EXAMPLE, r.bodyFile);
  doc.listen = { data: '127.0.0.1:0', admin: '127.0.0.1:0' };
  doc.routes[0]!.backends = [{ to: RUNTIME }];
  writeFileSync(s.file, stringify(doc));
  return s.file;
}

/** Starts `outrider run -c config` and waits for /readyz 200 (or only for the listening line). */
async function startOutrider(processes: Processes, config: string, log: string, ready: boolean): Promise<{ o: OutriderInstance; ms: number }> {
  const t0 = performance.now();
  const o = await runOutrider(processes, 'gpu', config, log, null);
  const at = ready ? await waitReady(o, READY_TIMEOUT_MS, 20) : performance.now();
  return { o, ms: at - t0 };
}

/** The pids nvidia-smi lists as using a GPU; null without nvidia-smi. */
function gpuPids(): number[] | null {
  const r = spawnSync('nvidia-smi', ['--query-compute-apps=pid', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return null;
  return r.stdout.split('\n').map((l) => Number(l.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

async function logits(origin: string, body: Buffer): Promise<number[]> {
  const res = await fetch(`${origin}${INFER}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${origin}${INFER} answered ${res.status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { outputs: { data: number[] }[] }).outputs[0]!.data;
}

async function main(): Promise<void> {
  const processes = new Processes();
  const dir = mkdtempSync(join(tmpdir(), 'outrider-bench-gpu-'));
  const stopEverything = () => processes.killAllNow();
  process.once('exit', stopEverything);
  const body = readFileSync(join(EXAMPLE, 'warm.json'));
  const result: Record<string, unknown> = { startedAt: new Date().toISOString(), python: args.python, gpu, torchDevice, duration };
  try {
    const { o, ms: coldStartMs } = await startOutrider(processes, writeConfig({ file: join(dir, 'one.yaml'), devices: [gpu], generation: 1 }), join(dir, 'one.log'), true);
    const [replica] = await replicas(o, RUNTIME);
    if (replica === undefined || replica.pid === null || replica.origin === null) throw new Error('/runtimes lists no running replica');
    const deviceLine = readFileSync(o.log, 'utf8').split('\n').map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg?: string }).msg ?? '' : ''))
      .find((m) => m.includes(' server: torch ')) ?? null;
    Object.assign(result, { coldStartMs, deviceLine, replica, gpuPids: gpuPids() });

    // Outputs: through Outrider (on the pinned device) vs the same server on the CPU.
    const cpuPort = await freePort();
    const cpuServer = processes.start('cpu reference', args.python, [join(EXAMPLE, 'server.py'), '--port', String(cpuPort), '--device', 'cpu'], {
      cpu: null, env: { ...process.env, CUDA_VISIBLE_DEVICES: '' },
    });
    await waitForLine(cpuServer, (l) => (l.includes('ready') ? true : undefined), 120_000);
    const [viaOutrider, onCpu] = [await logits(o.data, body), await logits(`http://127.0.0.1:${cpuPort}`, body)];
    const maxAbsDiff = Math.max(...viaOutrider.map((v, i) => Math.abs(v - onCpu[i]!)));
    await processes.stop(cpuServer);
    result.outputs = { values: viaOutrider.length, maxAbsDiffVsCpu: maxAbsDiff };

    // Overhead: the same server, directly and through Outrider, interleaved.
    const loads: Record<string, ClosedLoopResult> = {};
    for (const clients of [1, 16]) {
      loads[`direct/${clients}`] = await closedLoop(`${replica.origin}${INFER}`, body, clients, 1, duration);
      loads[`outrider/${clients}`] = await closedLoop(`${o.data}${INFER}`, body, clients, 1, duration);
    }
    result.loads = loads;

    // Recovery: the server dies; Outrider restarts it, warms it and turns ready again.
    const tKill = performance.now();
    process.kill(replica.pid, 'SIGKILL');
    const [fresh] = await nextGeneration(o, [replica.pid], 1);
    result.recovery = { readyAgainMs: performance.now() - tKill, oldPid: replica.pid, newPid: fresh!.pid };

    // Stop: SIGTERM; Outrider drains, stops the server and exits 0.
    result.stop = await stop(o, [fresh!.pid!]);
    result.errorLogLines = errorLines(o).length;

    // The later phases report a failure in the result rather than lose the figures above.
    const phase = async (f: () => Promise<Record<string, unknown>>) => f().catch((e: unknown) => ({ phaseError: e instanceof Error ? e.message : String(e) }));
    result.reload = await phase(() => reload(processes, dir, body));
    if (torchDevice === 'cuda') result.missingGpu = await phase(() => missingGpu(processes, dir));

    print(result, loads);
    const out = args.out ?? join(REPO_ROOT, 'bench', 'results', `gpu-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ ...result, finishedAt: new Date().toISOString() }, null, 2)}\n`);
    console.log(`\nresult: ${out}`);
  } finally {
    await processes.stopAll();
    process.off('exit', stopEverything);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until `count` replicas are ready with pids none of which is in `old`; returns them. */
async function nextGeneration(o: OutriderInstance, old: readonly (number | null)[], count: number): Promise<ReplicaView[]> {
  const until = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    const now = (await replicas(o, RUNTIME)).filter((r) => r.state === 'ready' && r.pid !== null && !old.includes(r.pid));
    if (now.length >= count) {
      await waitReady(o, READY_TIMEOUT_MS, 20);
      return now;
    }
    if (performance.now() > until) throw new Error(`no ${count} new ready replicas within ${READY_TIMEOUT_MS} ms`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

async function stop(o: OutriderInstance, serverPids: readonly number[]): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  o.child.proc.kill('SIGTERM');
  await o.child.exited;
  return { exitCode: o.child.proc.exitCode, signal: o.child.proc.signalCode, ms: performance.now() - t0, serverGone: serverPids.every((p) => !alive(p)) };
}

/**
 * Two replicas on the one GPU under a steady single-client load; the runtime's env changes and
 * POST /config/reload replaces both: the new ones start beside the old and take over once warm.
 */
async function reload(processes: Processes, dir: string, body: Buffer): Promise<Record<string, unknown>> {
  const config = join(dir, 'two.yaml');
  const { o } = await startOutrider(processes, writeConfig({ file: config, devices: [gpu, gpu], generation: 1 }), join(dir, 'two.log'), true);
  const before = await replicas(o, RUNTIME);
  const gpuBefore = gpuPids();
  let sent = 0;
  let failed = 0;
  let firstError: string | null = null;
  let loading = true;
  const client = new OneClient(`${o.data}${INFER}`);
  const load = (async () => {
    while (loading) {
      sent++;
      const a = await client.send(body);
      if (a.status !== 200) {
        failed++;
        firstError ??= `${a.status} ${a.error ?? ''}`.trim();
      }
    }
    await client.close();
  })();
  let gpuMax = gpuBefore?.length ?? null;
  const sampler = setInterval(() => {
    const p = gpuPids();
    if (p !== null) gpuMax = Math.max(gpuMax ?? 0, p.length);
  }, 250);
  try {
    await new Promise((res) => setTimeout(res, 1000));
    writeConfig({ file: config, devices: [gpu, gpu], generation: 2 });
    const t0 = performance.now();
    const answer = await fetch(`${o.admin}/config/reload`, { method: 'POST', signal: AbortSignal.timeout(READY_TIMEOUT_MS) });
    const reloadStatus = answer.status;
    const reloadBody = (await answer.text()).slice(0, 300);
    const after = await nextGeneration(o, before.map((r) => r.pid), 2);
    const replacedMs = performance.now() - t0;
    // The old replicas drain after the new ones are ready: wait for them to be gone.
    const oldPids = before.map((r) => r.pid!);
    while (oldPids.some(alive) && performance.now() - t0 < READY_TIMEOUT_MS) await new Promise((res) => setTimeout(res, 20));
    const oldGoneMs = performance.now() - t0;
    await new Promise((res) => setTimeout(res, 1000));
    loading = false;
    await load;
    clearInterval(sampler);
    const gpuAfter = gpuPids();
    const stopped = await stop(o, after.map((r) => r.pid!));
    return {
      reloadStatus, reloadBody, replacedMs, oldGoneMs, sent, failed, firstError,
      pidsBefore: oldPids, pidsAfter: after.map((r) => r.pid), devicesAfter: after.map((r) => r.device),
      gpuPidsBefore: gpuBefore, gpuPidsMax: gpuMax, gpuPidsAfter: gpuAfter, stop: stopped, errorLogLines: errorLines(o).length,
    };
  } finally {
    loading = false;
    clearInterval(sampler);
  }
}

/** A replica pinned to a GPU that does not exist, with --device cuda: never ready, and says why. */
async function missingGpu(processes: Processes, dir: string): Promise<Record<string, unknown>> {
  const { o } = await startOutrider(processes, writeConfig({ file: join(dir, 'missing.yaml'), devices: ['99'], generation: 1 }), join(dir, 'missing.log'), false);
  const t0 = performance.now();
  let lastError: string | null = null;
  while (performance.now() - t0 < 60_000) {
    lastError = (await replicas(o, RUNTIME))[0]?.lastError ?? null;
    if (lastError !== null) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const readyz = await fetch(`${o.admin}/readyz`);
  const result = { readyzStatus: readyz.status, readyz: (await readyz.text()).slice(0, 300), lastError, ms: performance.now() - t0 };
  await stop(o, []);
  return result;
}

function print(r: Record<string, unknown>, loads: Record<string, ClosedLoopResult>): void {
  const outputs = r.outputs as { maxAbsDiffVsCpu: number };
  const recovery = r.recovery as { readyAgainMs: number; newPid: number | null };
  const stop = r.stop as { exitCode: number | null; ms: number; serverGone: boolean | null };
  console.log(`server:       ${String(r.deviceLine)}`);
  console.log(`cold start:   ${fmt(r.coldStartMs as number)} ms to /readyz 200`);
  console.log(`outputs:      max |logit(outrider) - logit(cpu)| = ${(outputs.maxAbsDiffVsCpu).toExponential(2)}`);
  console.log(`recovery:     ${fmt(recovery.readyAgainMs)} ms from SIGKILL to ready again (new pid ${recovery.newPid})`);
  console.log(`stop:         exit ${stop.exitCode} in ${fmt(stop.ms)} ms, server gone: ${stop.serverGone}`);
  console.log(`error lines:  ${r.errorLogLines as number}`);
  const rl = r.reload as { phaseError?: string; reloadStatus: number; replacedMs: number; oldGoneMs: number; sent: number; failed: number; firstError: string | null;
    gpuPidsBefore: number[] | null; gpuPidsMax: number | null; gpuPidsAfter: number[] | null; stop: { exitCode: number | null }; errorLogLines: number };
  if (rl.phaseError !== undefined) console.log(`reload:       failed: ${rl.phaseError}`);
  else console.log(`reload:       2 replicas on GPU ${gpu}; POST /config/reload ${rl.reloadStatus}; new replicas ready in ${fmt(rl.replacedMs)} ms, `
    + `old ones gone at ${fmt(rl.oldGoneMs)} ms; ${rl.failed}/${rl.sent} requests failed${rl.firstError === null ? '' : ` (first: ${rl.firstError})`}`);
  if (rl.phaseError === undefined && rl.gpuPidsBefore !== null) {
    console.log(`              GPU processes: ${rl.gpuPidsBefore.length} before, at most ${rl.gpuPidsMax} during, ${rl.gpuPidsAfter?.length} after; `
      + `stop exit ${rl.stop.exitCode}; error lines ${rl.errorLogLines}`);
  }
  const mg = r.missingGpu as { phaseError?: string; readyzStatus: number; lastError: string | null } | undefined;
  if (mg !== undefined) console.log(`missing GPU:  ${mg.phaseError !== undefined ? `failed: ${mg.phaseError}` : `/readyz ${mg.readyzStatus}; lastError: ${mg.lastError}`}`);
  console.log('');
  const rows = [1, 16].flatMap((c) => {
    const d = loads[`direct/${c}`]!;
    const p = loads[`outrider/${c}`]!;
    return [
      [`direct, ${c} client${c > 1 ? 's' : ''}`, fmt(d.perSecond), fmt(d.p50Us / 1000, 3), fmt(d.p99Us / 1000, 3), String(d.failed), '', ''],
      [`outrider, ${c} client${c > 1 ? 's' : ''}`, fmt(p.perSecond), fmt(p.p50Us / 1000, 3), fmt(p.p99Us / 1000, 3), String(p.failed),
        ratio(p.perSecond / d.perSecond), fmt((p.p50Us - d.p50Us) / 1000, 3)],
    ];
  });
  for (const l of formatTable(['target', 'req/s', 'p50 ms', 'p99 ms', 'failed', 'req/s vs direct', 'added p50 ms'], rows)) console.log(l);
}

main().catch((e: unknown) => {
  console.error(`bench:gpu failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
