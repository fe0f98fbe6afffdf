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
import { cudaOrdinal, readWorkerInit } from './init.ts';
import { requestLimits } from './limits.ts';
import { createWorkerMetrics } from './metrics.ts';
import { WorkerHttp } from './server.ts';
import { InferenceThread } from './session.ts';
import { buildSignature } from './signature.ts';
import { warmup } from './warmup.ts';

const log: Logger = pino({ level: process.env.OUTRIDER_LOG_LEVEL ?? 'info', base: { pid: process.pid, component: 'onnx-worker' } });

function send(msg: WorkerToParent): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(msg, undefined, {}, () => resolve());
  });
}

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
let draining: Promise<void> | null = null;

function drain(why: string): Promise<void> {
  draining ??= (async () => {
    rlog.info({ why, queued: batcher?.queued ?? 0 }, 'draining');
    const served = http.drain();
    await batcher?.close();
    await served;
    http.server.closeAllConnections();
    await thread?.close();
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
  batcher = new Batcher(cfg.batching, sig, (inputs) => session.run(inputs), metrics.observer);
  http.attach({ sig, batcher });
  if (draining === null) {
    await send({ type: 'warming' });
    const report = await warmup(cfg, sig, limits, { host: init!.host, port, token: warmupToken });
    if (draining === null) {
      // Warmup went through the real batcher; the metrics start from zero with real traffic.
      metrics.reset();
      http.setReady();
      await send({ type: 'ready', warmupSeconds: report.seconds });
      rlog.info({ port, provider: session.provider, warmupSeconds: report.seconds, warmupRequests: report.requests, batchSizes: report.sizes.length, embeddings: sig.embedder !== null }, 'ready');
    }
  }
} catch (e) {
  await fatal((e as Error).message);
}
