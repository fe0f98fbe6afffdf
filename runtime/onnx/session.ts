// The HTTP thread's handle on the inference thread: opens the session there, runs batches,
// and turns a dead thread into a rejected run plus an `onExit` notice (the worker then exits,
// and the supervisor restarts it).
import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { OutriderError } from '../../proxy/errors.ts';
import type { RunResult } from './batcher.ts';
import { dataTypeFromOrt } from './datatypes.ts';
import type { RawValueMetadata } from './signature.ts';
import type { Tensor } from './tensor.ts';
import type { FromThread, ThreadInit, ToThread, WireTensor } from './session-wire.ts';

/** A start problem with a message fit for the supervisor's `fatal` and the operator. */
export class StartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}

/** A clear start error for a model path that is missing or not a file (ORT's own message is not). */
export async function checkModelFile(model: string): Promise<void> {
  const info = await stat(model).catch(() => null);
  if (info === null) throw new StartError(`model file not found: ${model}`);
  if (!info.isFile()) throw new StartError(`model path is not a file: ${model}`);
}

// Source runs as .ts (type stripping); the build emits .js next to this file.
const THREAD_ENTRY = new URL(import.meta.url.endsWith('.ts') ? './session-thread.ts' : './session-thread.js', import.meta.url);

interface Pending {
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
}

export class InferenceThread {
  readonly provider: 'cpu' | 'cuda';
  readonly warning: string | null;
  readonly inputs: readonly RawValueMetadata[];
  readonly outputs: readonly RawValueMetadata[];
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #exitListeners: ((reason: string) => void)[] = [];
  #closing = false;

  private constructor(worker: Worker, loaded: Extract<FromThread, { type: 'loaded' }>) {
    this.#worker = worker;
    this.provider = loaded.provider;
    this.warning = loaded.warning;
    this.inputs = loaded.inputs;
    this.outputs = loaded.outputs;
    worker.on('message', (msg: FromThread) => this.#onMessage(msg));
    worker.on('error', (e) => this.#fail(`inference thread failed: ${e.message}`));
    worker.on('exit', (code) => this.#fail(`inference thread exited with code ${code}`));
  }

  static async open(init: ThreadInit): Promise<InferenceThread> {
    await checkModelFile(init.model);
    const worker = new Worker(THREAD_ENTRY, { workerData: init, name: 'onnx-session' });
    let onMessage!: (m: FromThread) => void;
    let onError!: (e: Error) => void;
    let onExit!: (code: number) => void;
    const first = await new Promise<FromThread>((resolve, reject) => {
      onMessage = resolve;
      onError = (e) => reject(new StartError(`inference thread failed to start: ${e.message}`));
      onExit = (code) => reject(new StartError(`inference thread exited with code ${code} while loading ${init.model}`));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    }).finally(() => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    });
    if (first.type !== 'loaded') {
      await worker.terminate();
      throw new StartError(first.type === 'failed' ? first.message : `unexpected message from the inference thread: ${first.type}`);
    }
    return new InferenceThread(worker, first);
  }

  /** Runs one batch; `inputs` are in the model's input order and their buffers are transferred; `timeCpu`: also measure cpuSeconds. */
  run(inputs: readonly Tensor[], timeCpu = false): Promise<RunResult> {
    if (this.#closing) return Promise.reject(new OutriderError('unavailable', 'inference session is closed'));
    const id = this.#nextId++;
    const wire: WireTensor[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const t of inputs) {
      // A buffer can only be transferred whole; a view (e.g. a tile of warmup data) is copied.
      const whole = t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength;
      const data = whole ? t.data : t.data.slice();
      wire.push({ type: t.type.ort, dims: t.dims, data });
      transfer.push(data.buffer as ArrayBuffer);
    }
    const msg: ToThread = { type: 'run', id, inputs: wire, timeCpu };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage(msg, transfer);
    });
  }

  onExit(listener: (reason: string) => void): void {
    this.#exitListeners.push(listener);
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#worker.terminate();
  }

  #onMessage(msg: FromThread): void {
    if (msg.type !== 'result' && msg.type !== 'error') return;
    const p = this.#pending.get(msg.id);
    if (p === undefined) return;
    this.#pending.delete(msg.id);
    if (msg.type === 'error') {
      p.reject(new OutriderError('internal', `inference failed: ${msg.message}`));
      return;
    }
    try {
      p.resolve({ seconds: msg.seconds, cpuSeconds: msg.cpuSeconds, outputs: msg.outputs.map(fromWire) });
    } catch (e) {
      p.reject(e as Error);
    }
  }

  #fail(reason: string): void {
    for (const p of this.#pending.values()) p.reject(new OutriderError('internal', reason));
    this.#pending.clear();
    if (this.#closing) return;
    this.#closing = true;
    for (const l of this.#exitListeners) l(reason);
  }
}

function fromWire(w: WireTensor): Tensor {
  const type = dataTypeFromOrt(w.type);
  if (type === undefined) throw new OutriderError('internal', `model returned an unsupported element type ${w.type}`);
  return { type, dims: w.dims, data: w.data };
}
