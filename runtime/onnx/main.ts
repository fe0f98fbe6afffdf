// Entry of a built-in ONNX worker process, forked by the supervisor with an IPC channel and
// OUTRIDER_WORKER = JSON WorkerInit (runtime/protocol.ts).
//
// Life: listen on host:0 -> {listening, port} -> load the model in the inference thread ->
// {warming} -> warmup -> {ready, warmupSeconds}. Any start problem -> {fatal, message}, exit 1.
// {drain} (or SIGTERM / SIGINT): refuse new requests, answer everything queued, exit 0;
// a second signal during the drain exits at once (code 1).
// The IPC channel closing means the supervisor is gone: exit at once, leaving no orphan.
import { randomUUID } from 'node:crypto';
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
const INLINE_MAX_SECONDS = 0.001;

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
  thread = await InferenceThread.open({
    model: cfg.model,
    device: cfg.device,
    deviceId: cudaOrdinal(cfg, process.env.CUDA_VISIBLE_DEVICES),
    cpuFallback: cfg.cpuFallback,
    threads: cfg.threads,
  });
  if (thread.warning !== null) rlog.warn(thread.warning);
  thread.onExit((reason) => void fatal(reason));
  const sig = buildSignature(thread.inputs, thread.outputs);
  const session = thread;
  // Warm batch times by row count, recorded while warming on the thread: they decide `inference: auto`.
  const warmTimes = new Map<number, number[]>();
  let run: RunBatch = async (inputs) => {
    const r = await session.run(inputs);
    const rows = inputs[0]?.dims[0] ?? 1;
    let times = warmTimes.get(rows);
    if (times === undefined) warmTimes.set(rows, times = []);
    times.push(r.seconds);
    return r;
  };
  batcher = new Batcher(cfg.batching, sig, (inputs) => run(inputs), metrics.observer);
  http.attach({ sig, batcher });
  if (draining === null) {
    await send({ type: 'warming' });
    const target = { host: init!.host, port, token: warmupToken };
    let report = await warmup(cfg, sig, limits, target);
    let where: 'thread' | 'inline' = 'thread';
    if (draining === null && goInline(cfg, session.provider, sig, warmTimes)) {
      const opened = await InlineSession.open(cfg.model, session.provider, cudaOrdinal(cfg, process.env.CUDA_VISIBLE_DEVICES), cfg.threads);
      inline = opened;
      run = (inputs) => opened.run(inputs);
      // The inline session's shapes are cold: warm them the same way before turning ready.
      const again = await warmup(cfg, sig, limits, target);
      report = { ...again, seconds: report.seconds + again.seconds, requests: report.requests + again.requests };
      await session.close();
      where = 'inline';
    } else {
      run = (inputs) => session.run(inputs);
    }
    if (draining === null) {
      // Warmup went through the real batcher; the metrics start from zero with real traffic.
      metrics.reset();
      http.setReady();
      await send({ type: 'ready', warmupSeconds: report.seconds });
      rlog.info({ port, provider: session.provider, inference: where, warmupSeconds: report.seconds, warmupRequests: report.requests, batchSizes: report.sizes.length, embeddings: sig.embedder !== null }, 'ready');
    }
  }
} catch (e) {
  await fatal((e as Error).message);
}


/**
 * `inference: auto` goes inline on CPU when the warmup covered every shape a batch can take (no
 * dynamic dim besides the batch dim: a sequence length has no bound warmup could have measured)
 * and every batch size's fastest warm run took under INLINE_MAX_SECONDS (the fastest: the first
 * call at a new shape is a cold one, and replicas warming side by side preempt each other).
 * Without warmup runs there is nothing to judge by, and the thread stays.
 */
function goInline(cfg: OnnxRuntimeConfig, provider: 'cpu' | 'cuda', sig: Signature, times: ReadonlyMap<number, readonly number[]>): boolean {
  if (cfg.inference !== 'auto') return cfg.inference === 'inline';
  if (provider !== 'cpu' || times.size === 0) return false;
  if (sig.inputs.some((i) => i.dims.some((d, k) => k > 0 && d === null))) return false;
  for (const t of times.values()) if (Math.min(...t) >= INLINE_MAX_SECONDS) return false;
  return true;
}
