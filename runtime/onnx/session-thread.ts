// worker_threads entry that owns the ONNX Runtime session. onnxruntime-node runs session.run
// synchronously on the calling JS thread, so the session lives here and the worker's HTTP
// thread stays free to parse, queue and answer while a batch computes. Tensor buffers move
// between the threads as transferables (no copy).
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { cpuSpan } from './cpu-time.ts';
import type { FromThread, ThreadInit, ToThread, WireTensor } from './session-wire.ts';
import { sessionOptions } from './session-options.ts';

const init = workerData as ThreadInit;
const port = parentPort!;

// Every failure is reported through the worker's own messages, with context; ORT's stderr
// lines (ANSI-coloured, one per bad request) would only duplicate them.
ort.env.logLevel = 'fatal';

function post(msg: FromThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();

async function open(): Promise<{ session: ort.InferenceSession; provider: 'cpu' | 'cuda'; warning: string | null } | null> {
  if (init.device === 'cpu') {
    try {
      return { session: await ort.InferenceSession.create(init.model, sessionOptions('cpu', init.deviceId, init.threads)), provider: 'cpu', warning: null };
    } catch (e) {
      post({ type: 'failed', message: `cannot load model ${init.model}: ${message(e)}` });
      return null;
    }
  }
  let cudaError: string;
  try {
    return { session: await ort.InferenceSession.create(init.model, sessionOptions('cuda', init.deviceId, init.threads)), provider: 'cuda', warning: null };
  } catch (e) {
    cudaError = message(e);
  }
  // Tell a model that cannot load from a CUDA provider that cannot start: only the second
  // deserves "set cpuFallback".
  let cpu: ort.InferenceSession;
  try {
    cpu = await ort.InferenceSession.create(init.model, sessionOptions('cpu', init.deviceId, init.threads));
  } catch (e) {
    post({ type: 'failed', message: `cannot load model ${init.model}: ${message(e)}` });
    return null;
  }
  const cause = `CUDA execution provider not available (device ${init.deviceId}): ${cudaError}`;
  if (!init.cpuFallback) {
    await cpu.release();
    post({ type: 'failed', message: `${cause}; set cpuFallback: true to run on CPU` });
    return null;
  }
  return { session: cpu, provider: 'cpu', warning: `${cause}; running on CPU because cpuFallback is true` };
}

function toWire(t: ort.Tensor): WireTensor {
  const data = t.data as WireTensor['data'];
  // Only a whole, unshared buffer can be transferred; a view is copied out first.
  const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : (data.slice() as WireTensor['data']);
  return { type: t.type, dims: [...t.dims], data: own };
}

const opened = await open();
if (opened !== null) {
  const { session } = opened;
  post({
    type: 'loaded',
    provider: opened.provider,
    warning: opened.warning,
    inputs: session.inputMetadata.map((m) => ({ ...m })),
    outputs: session.outputMetadata.map((m) => ({ ...m })),
  });
  const inputNames = session.inputNames;
  port.on('message', async (msg: ToThread) => {
    if (msg.type !== 'run') return;
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (let k = 0; k < msg.inputs.length; k++) {
        const w = msg.inputs[k]!;
        feeds[inputNames[k]!] = new ort.Tensor(w.type as 'float32', w.data as Float32Array, w.dims);
      }
      const started = performance.now();
      const cpu = msg.timeCpu ? cpuSpan() : undefined;
      const result = await session.run(feeds);
      const seconds = (performance.now() - started) / 1000;
      const cpuSeconds = cpu?.();
      const outputs = session.outputNames.map((name) => toWire(result[name] as ort.Tensor));
      post({ type: 'result', id: msg.id, seconds, cpuSeconds, outputs }, outputs.map((o) => o.data.buffer as ArrayBuffer));
    } catch (e) {
      post({ type: 'error', id: msg.id, message: message(e) });
    }
  });
}
