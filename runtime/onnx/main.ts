// Entry of a built-in ONNX worker process, forked by the supervisor with an IPC channel and
// OUTRIDER_WORKER = JSON WorkerInit (runtime/protocol.ts).
//
// Life: listen on host:0 -> {listening, port} -> load the model in the inference thread ->
// {warming} -> warmup -> {ready, warmupSeconds}. Any start problem -> {fatal, message}, exit 1.
// {drain} (or SIGTERM / SIGINT): refuse new requests, answer everything queued, exit 0;
// a second signal during the drain exits at once (code 1).
// The IPC channel closing means the supervisor is gone: exit at once, leaving no orphan.
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { OnnxRuntimeConfig } from '../../proxy/config/types.ts';
import type { ParentToWorker, WorkerInit, WorkerToParent } from '../protocol.ts';
import { Batcher } from './batcher.ts';
import type { RunBatch } from './batcher.ts';
import { InlineSession } from './inline-session.ts';
import { cudaOrdinal, readWorkerInit } from './init.ts';
import { requestLimits } from './limits.ts';
import { createWorkerMetrics } from './metrics.ts';
import { WorkerHttp } from './server.ts';
import { InferenceThread } from './session.ts';
import { buildSignature } from './signature.ts';
import type { Signature } from './signature.ts';
import { warmup } from './warmup.ts';

const log: Logger = pino({ level: process.env.OUTRIDER_LOG_LEVEL ?? 'info', base: { pid: process.pid, component: 'onnx-worker' } });

function send(msg: WorkerToParent): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(msg, undefined, {}, () => resolve());
  });
}

/** Longest warm batch that `inference: auto` runs on the HTTP thread (blocking its event loop that long). */
const INLINE_MAX_SECONDS = 0.002;
/** Model files up to this size start inline under `inference: auto` (the bundled ones are at most a few hundred KiB). */
const INLINE_FIRST_MAX_BYTES = 16 * 1024 * 1024;

/**
 * The `location` entry of a TensorProto's external_data (a StringStringEntryProto: field 1,
 * length 8, "location"): present in a model only when some tensor's data lives outside it.
 */
const EXTERNAL_DATA_KEY = Buffer.from('\x0a\x08location', 'latin1');

let exiting = false;
let flog: Logger = log;

async function fatal(message: string): Promise<never> {
  if (!exiting) {
    exiting = true;
    flog.error({ fatal: message }, 'onnx worker cannot continue');
    await send({ type: 'fatal', message });
  }
  process.exit(1);
}

if (process.send === undefined) {
  process.stderr.write('the onnx worker must be started by the Outrider supervisor (child_process.fork with an IPC channel)\n');
  process.exit(1);
}

let init: WorkerInit;
try {
  init = readWorkerInit(process.env.OUTRIDER_WORKER);
} catch (e) {
  await fatal((e as Error).message);
}

const cfg: OnnxRuntimeConfig = init!.runtime;
const rlog = log.child({ runtime: cfg.name, replica: init!.replica });
flog = rlog;
const limits = requestLimits(cfg.batching);
const metrics = createWorkerMetrics(cfg.name);
const warmupToken = randomUUID();
const http = new WorkerHttp(cfg, limits, rlog, warmupToken);
let batcher: Batcher | null = null;
let thread: InferenceThread | null = null;
let inline: InlineSession | null = null;
let draining: Promise<void> | null = null;

function drain(why: string): Promise<void> {
  draining ??= (async () => {
    rlog.info({ why, queued: batcher?.queued ?? 0 }, 'draining');
    const served = http.drain();
    await batcher?.close();
    await served;
    http.server.closeAllConnections();
    await thread?.close();
    await inline?.close();
    exiting = true;
    process.exit(0);
  })();
  return draining;
}

process.on('disconnect', () => {
  if (exiting) return;
  exiting = true;
  rlog.warn('supervisor IPC channel closed; exiting');
  process.exit(0);
});
process.on('message', (msg: ParentToWorker) => {
  if (msg?.type === 'metrics') {
    void metrics.registry.getMetricsAsJSON().then((data) => send({ type: 'metrics', id: msg.id, data }));
  } else if (msg?.type === 'reset-metrics') {
    metrics.reset();
  } else if (msg?.type === 'drain') {
    void drain('supervisor asked');
  }
});
// A signal drains like {drain}; one that arrives while a drain is under way means the
// supervisor's grace is over (or the operator insists): leave now.
function onSignal(signal: NodeJS.Signals): void {
  if (draining === null) {
    void drain(signal);
    return;
  }
  rlog.warn({ signal, queued: batcher?.queued ?? 0 }, 'signalled again while draining; exiting now');
  exiting = true;
  process.exit(1);
}
process.on('SIGTERM', onSignal);
// Ctrl-C in a terminal signals the whole process group, supervisor included: the first
// SIGINT drains, as the supervisor's own {drain} would.
process.on('SIGINT', onSignal);
process.on('uncaughtException', (e) => void fatal(`uncaught exception: ${e.stack ?? e.message}`));
process.on('unhandledRejection', (e) => void fatal(`unhandled rejection: ${e instanceof Error ? e.stack ?? e.message : String(e)}`));

try {
  const port = await http.listen(init!.host);
  await send({ type: 'listening', port });
  const deviceId = cudaOrdinal(cfg, process.env.CUDA_VISIBLE_DEVICES);
  const openThread = async (): Promise<InferenceThread> => {
    const t = await InferenceThread.open({ model: cfg.model, device: cfg.device, deviceId, cpuFallback: cfg.cpuFallback, threads: cfg.threads });
    if (t.warning !== null) rlog.warn(t.warning);
    t.onExit((reason) => void fatal(reason));
    thread = t;
    return t;
  };
  const openInline = async (provider: 'cpu' | 'cuda'): Promise<InlineSession> => (inline = await InlineSession.open(cfg.model, provider, deviceId, cfg.threads));
  let session: InferenceThread | InlineSession = inlineFirst(cfg) ? await openInline('cpu') : await openThread();
  const provider = session.provider;
  const sig = buildSignature(session.inputs, session.outputs);
  if (session instanceof InlineSession && cfg.inference === 'auto' && !fixedShapes(sig)) {
    // Warmup cannot bound a batch's cost when a dim other than the batch dim is free.
    await session.close();
    inline = null;
    session = await openThread();
  }
  // Where the session was first opened (the ready log's `opened`; `inference` is where it serves).
  const opened = placedOn(session);
  // Warm batch times by row count, recorded while warming: they decide `inference: auto`.
  const warmTimes = new Map<number, number[]>();
  // Times every run into warmTimes: warmup's runs are what `auto` and the ready log judge by.
  const timed = (target: InferenceThread | InlineSession): RunBatch => async (inputs) => {
    const r = await target.run(inputs, true);
    const rows = inputs[0]?.dims[0] ?? 1;
    let times = warmTimes.get(rows);
    if (times === undefined) warmTimes.set(rows, times = []);
    // The smaller of wall time and the process's CPU time (exact, where the thread's own clock
    // advances in ticks: cpu-time.ts). Each is an upper bound on the CPU the run took on its
    // thread, and each is inflated by something else: wall time by preemption (replicas warming
    // side by side on a busy machine), the process's CPU by its other threads (V8 compiling and
    // collecting the warmup's code in the background). Taking either alone, a busy CI run put
    // the bundled mlp (~0.1 ms a batch) on the thread.
    times.push(Math.min(r.seconds, r.cpuSeconds ?? r.seconds));
    return r;
  };
  let run: RunBatch = timed(session);
  batcher = new Batcher(cfg.batching, sig, (inputs) => run(inputs), metrics.observer);
  http.attach({ sig, batcher });
  if (draining === null) {
    await send({ type: 'warming' });
    const target = { host: init!.host, port, token: warmupToken };
    let report = await warmup(cfg, sig, limits, target);
    const wanted = placement(cfg, provider, sig, warmTimes);
    if (draining === null && wanted !== placedOn(session)) {
      const previous = session;
      let next: InferenceThread | InlineSession | null = null;
      try {
        next = wanted === 'inline' ? await openInline(provider) : await openThread();
      } catch (e) {
        // The session already open works: serve from it rather than fail the replica.
        rlog.warn({ wanted, err: (e as Error).message }, 'could not open the preferred inference placement; keeping the current one');
      }
      if (next !== null && draining === null) {
        // Forget the closed session's timings; the new one's shapes are cold: warm them the same
        // way before turning ready.
        warmTimes.clear();
        run = timed(next);
        const again = await warmup(cfg, sig, limits, target);
        report = { ...again, seconds: report.seconds + again.seconds, requests: report.requests + again.requests };
        if (previous === inline) inline = null;
        if (previous === thread) thread = null;
        await previous.close();
        session = next;
      }
    }
    const serving = session;
    run = (inputs) => serving.run(inputs);
    if (draining === null) {
      // Warmup went through the real batcher; the metrics start from zero with real traffic.
      metrics.reset();
      http.setReady();
      await send({ type: 'ready', warmupSeconds: report.seconds });
      rlog.info({ port, provider, inference: placedOn(serving), opened, slowestWarmBatchMs: slowestWarm(warmTimes), warmupSeconds: report.seconds, warmupRequests: report.requests, batchSizes: report.sizes.length, embeddings: sig.embedder !== null }, 'ready');
    }
  }
} catch (e) {
  // A drain that began during start-up closes the batcher and sessions under warmup, which then
  // fails: that is the drain's doing, and it exits cleanly by itself.
  if (draining !== null) await draining;
  else await fatal((e as Error).message);
}

/**
 * Where to start: a small model on CPU opens inline at once (`auto` moves it to the thread if
 * warmup finds it slow), so the common case never starts a thread it would close; a large one
 * (or CUDA) starts on the thread, whose HTTP stays free while warmup runs its long batches.
 */
function inlineFirst(cfg: OnnxRuntimeConfig): boolean {
  if (cfg.device !== 'cpu' || cfg.inference === 'thread') return false;
  if (cfg.inference === 'inline') return true;
  // Without warmup runs `auto` has nothing to judge by and stays on the thread.
  if (cfg.warmup.iterations === 0 || cfg.threads !== 1) return false;
  try {
    // A small .onnx may be the graph only, its weights in external data files beside it:
    // the file's size then says nothing about the session's.
    return statSync(cfg.model).size <= INLINE_FIRST_MAX_BYTES && !readFileSync(cfg.model).includes(EXTERNAL_DATA_KEY);
  } catch {
    return false;   // the thread's open reports the missing file
  }
}

function placedOn(session: InferenceThread | InlineSession): 'inline' | 'thread' {
  return session instanceof InlineSession ? 'inline' : 'thread';
}

function fixedShapes(sig: Signature): boolean {
  return !sig.inputs.some((i) => i.dims.some((d, k) => k > 0 && d === null));
}

/**
 * Where session.run executes once ready. `auto`: inline on CPU when the warmup covered every
 * shape a batch can take (no dynamic dim besides the batch dim: a sequence length has no bound
 * warmup could have measured) and every batch size's fastest warm run took under
 * INLINE_MAX_SECONDS (the smaller of its wall time and the worker process's CPU time; the
 * fastest run: the first call at a new shape is a cold one). Without warmup runs there is nothing to judge by.
 */
function placement(cfg: OnnxRuntimeConfig, provider: 'cpu' | 'cuda', sig: Signature, times: ReadonlyMap<number, readonly number[]>): 'inline' | 'thread' {
  if (cfg.inference !== 'auto') return cfg.inference;
  // With intra-op threads the CPU time sums their work: how long the caller is blocked is not known.
  if (provider !== 'cpu' || cfg.threads !== 1 || times.size === 0 || !fixedShapes(sig)) return 'thread';
  for (const t of times.values()) if (Math.min(...t) >= INLINE_MAX_SECONDS) return 'thread';
  return 'inline';
}

/** The slowest batch size's fastest warm run, in ms (what `auto` compared with INLINE_MAX_SECONDS); null without warmup runs. */
function slowestWarm(times: ReadonlyMap<number, readonly number[]>): number | null {
  let worst: number | null = null;
  for (const t of times.values()) worst = Math.max(worst ?? 0, Math.min(...t));
  return worst === null ? null : Math.round(worst * 1e6) / 1e3;
}
