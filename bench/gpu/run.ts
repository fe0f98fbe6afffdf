// `npm run bench:gpu`: the PyTorch example (examples/gpu/) behind Outrider, measured against
// the same server reached directly, on whatever device torch finds (a GPU when there is one).
//
//   cold start   spawn of `outrider run` -> /readyz 200 (CUDA context, model load, warmup)
//   pinning      the device line the server logs, and /runtimes' device for the replica
//   outputs      logits through Outrider vs a second server on the CPU (max |difference|)
//   overhead     closed loops of 1 and 16 clients, direct vs through Outrider, same server
//   recovery     SIGKILL of the server -> /readyz 200 again with a new pid
//   stop         SIGTERM to Outrider -> it exits 0 and the server process is gone
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { Processes, waitForLine } from '../overhead/processes.ts';
import { REPO_ROOT, waitForListening } from '../overhead/outrider.ts';
import { closedLoop, type ClosedLoopResult } from '../runtime/load.ts';
import { replicas, waitReady, type OutriderInstance } from '../runtime/outrider.ts';
import { fmt, formatTable, ratio } from '../runtime/report.ts';

const USAGE = `usage: npm run bench:gpu -- [--python PATH] [--devices 0] [--duration S] [--out FILE]
  --python PATH   the Python with torch, aiohttp and numpy (default: $OUTRIDER_PYTHON or /usr/bin/python3)
  --devices LIST  the runtime's \`devices\` (comma-separated; default 0)
  --duration S    measured seconds of each load run (default 5; 1 s of warmup before each)
  --out FILE      the JSON result (default bench/results/gpu-<time>.json)`;

const EXAMPLE = join(REPO_ROOT, 'examples', 'gpu');
const RUNTIME = 'resnet-bench';
const INFER = '/v2/models/resnet/infer';
const READY_TIMEOUT_MS = 180_000;

const { values: args } = parseArgs({
  options: {
    python: { type: 'string', default: process.env.OUTRIDER_PYTHON ?? '/usr/bin/python3' },
    devices: { type: 'string', default: '0' },
    duration: { type: 'string', default: '5' },
    out: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const duration = Number(args.duration);
if (!Number.isFinite(duration) || duration <= 0) {
  console.error(`--duration: expected a positive number of seconds, got "${args.duration}"\n${USAGE}`);
  process.exit(2);
}
const devices = args.devices.split(',').map((d) => d.trim()).filter((d) => d !== '');

/** examples/gpu/outrider.yaml with absolute paths, ports 0 and this run's python and devices. */
function writeConfig(dir: string): string {
  const doc = parse(readFileSync(join(EXAMPLE, 'outrider.yaml'), 'utf8')) as {
    listen: unknown; runtimes: Record<string, unknown>[]; routes: Record<string, unknown>[];
  };
  const rt = doc.runtimes[0]!;
  const command = rt.command as string[];
  rt.name = RUNTIME;
  rt.command = [args.python, join(EXAMPLE, command[1]!), ...command.slice(2)];
  rt.devices = devices;
  const warmup = rt.warmup as { requests: { bodyFile: string }[] };
  for (const r of warmup.requests) r.bodyFile = join(EXAMPLE, r.bodyFile);
  doc.listen = { data: '127.0.0.1:0', admin: '127.0.0.1:0' };
  doc.routes[0]!.backends = [{ to: RUNTIME }];
  const file = join(dir, 'gpu.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function logits(origin: string, body: Buffer): Promise<number[]> {
  const res = await fetch(`${origin}${INFER}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${origin}${INFER} answered ${res.status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { outputs: { data: number[] }[] }).outputs[0]!.data;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const processes = new Processes();
  const dir = mkdtempSync(join(tmpdir(), 'outrider-bench-gpu-'));
  const stopEverything = () => processes.killAllNow();
  process.once('exit', stopEverything);
  const body = readFileSync(join(EXAMPLE, 'warm.json'));
  const result: Record<string, unknown> = { startedAt: new Date().toISOString(), python: args.python, devices, duration };
  try {
    const config = writeConfig(dir);
    const log = join(dir, 'outrider.log');
    const fd = openSync(log, 'w');
    const t0 = performance.now();
    const child = processes.start('outrider', process.execPath, [join(REPO_ROOT, 'proxy', 'cli.ts'), 'run', '-c', config], { cpu: null, stdout: fd, cwd: REPO_ROOT });
    closeSync(fd);
    const { data, admin } = await waitForListening(child, log, 60_000);
    const o: OutriderInstance = { child, data: `http://${data}`, admin: `http://${admin}`, config, log };
    const readyAt = await waitReady(o, READY_TIMEOUT_MS, 20);
    const coldStartMs = readyAt - t0;
    const [replica] = await replicas(o, RUNTIME);
    if (replica === undefined || replica.pid === null || replica.origin === null) throw new Error('/runtimes lists no running replica');
    const deviceLine = readFileSync(log, 'utf8').split('\n').map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg?: string }).msg ?? '' : ''))
      .find((m) => m.includes(' server: torch ')) ?? null;
    const view = (await (await fetch(`${o.admin}/runtimes`)).json()) as { runtimes: { name: string; replicas: Record<string, unknown>[] }[] };
    const replicaView = view.runtimes.find((r) => r.name === RUNTIME)?.replicas[0] ?? null;
    Object.assign(result, { coldStartMs, deviceLine, replica: replicaView });

    // Outputs: through Outrider (on the pinned device) vs the same server on the CPU.
    const cpuPort = await freePort();
    const cpuServer = processes.start('cpu reference', args.python, [join(EXAMPLE, 'server.py'), '--port', String(cpuPort)], {
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
    let newPid: number | null = null;
    while (performance.now() - tKill < READY_TIMEOUT_MS) {
      const [r] = await replicas(o, RUNTIME);
      if (r !== undefined && r.pid !== null && r.pid !== replica.pid && r.state === 'ready') {
        newPid = r.pid;
        break;
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    await waitReady(o, READY_TIMEOUT_MS, 20);
    result.recovery = { readyAgainMs: performance.now() - tKill, oldPid: replica.pid, newPid };

    // Stop: SIGTERM; Outrider drains, stops the server and exits 0.
    const tStop = performance.now();
    child.proc.kill('SIGTERM');
    await child.exited;
    result.stop = { exitCode: child.proc.exitCode, signal: child.proc.signalCode, ms: performance.now() - tStop, serverGone: newPid === null ? null : !alive(newPid) };
    const errors = readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('{"level":50') || l.startsWith('{"level":60'));
    result.errorLogLines = errors.length;

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

function print(r: Record<string, unknown>, loads: Record<string, ClosedLoopResult>): void {
  const outputs = r.outputs as { maxAbsDiffVsCpu: number };
  const recovery = r.recovery as { readyAgainMs: number; newPid: number | null };
  const stop = r.stop as { exitCode: number | null; ms: number; serverGone: boolean | null };
  console.log(`server:       ${String(r.deviceLine)}`);
  console.log(`cold start:   ${fmt(r.coldStartMs as number)} ms to /readyz 200`);
  console.log(`outputs:      max |logit(outrider) - logit(cpu)| = ${(outputs.maxAbsDiffVsCpu).toExponential(2)}`);
  console.log(`recovery:     ${fmt(recovery.readyAgainMs)} ms from SIGKILL to ready again (new pid ${recovery.newPid})`);
  console.log(`stop:         exit ${stop.exitCode} in ${fmt(stop.ms)} ms, server gone: ${stop.serverGone}`);
  console.log(`error lines:  ${r.errorLogLines as number}\n`);
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
