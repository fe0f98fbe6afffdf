// A session on the worker's HTTP thread itself, for models whose whole batch computes in a
// millisecond or two (the bundled ones: ~0.02 ms at batch 1). For them the inference thread's
// two message hops cost far more than the inference (measured: a worker hop of ~0.75 ms over a
// 0.02 ms session.run), while blocking the event loop for a few tens of microseconds per batch
// costs the HTTP thread nothing it would notice. main.ts decides (runtimes[].inference).
import * as ort from 'onnxruntime-node';
import { performance } from 'node:perf_hooks';
import { OutriderError } from '../../proxy/errors.ts';
import type { RunResult } from './batcher.ts';
import { cpuSpan } from './cpu-time.ts';
import { dataTypeFromOrt } from './datatypes.ts';
import type { TypedArray } from './datatypes.ts';
import { sessionOptions } from './session-options.ts';
import type { Tensor } from './tensor.ts';
import { checkModelFile, StartError } from './session.ts';
import type { RawValueMetadata } from './signature.ts';

export class InlineSession {
  readonly provider: 'cpu' | 'cuda';
  readonly inputs: readonly RawValueMetadata[];
  readonly outputs: readonly RawValueMetadata[];
  readonly #session: ort.InferenceSession;
  readonly #inputNames: readonly string[];
  readonly #outputNames: readonly string[];

  private constructor(session: ort.InferenceSession, provider: 'cpu' | 'cuda') {
    this.provider = provider;
    this.#session = session;
    this.#inputNames = session.inputNames;
    this.#outputNames = session.outputNames;
    this.inputs = session.inputMetadata.map((m) => ({ ...m }));
    this.outputs = session.outputMetadata.map((m) => ({ ...m }));
  }

  /** Start problems throw StartError with the inference thread's wording (session.ts, session-thread.ts). */
  static async open(model: string, device: 'cpu' | 'cuda', deviceId: number, threads: number): Promise<InlineSession> {
    await checkModelFile(model);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model, sessionOptions(device, deviceId, threads));
    } catch (e) {
      throw new StartError(`cannot load model ${model}: ${(e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim()}`);
    }
    return new InlineSession(session, device);
  }

  /** Runs one batch; `inputs` are in the model's input order (as the inference thread takes them); `timeCpu`: also measure cpuSeconds. */
  async run(inputs: readonly Tensor[], timeCpu = false): Promise<RunResult> {
    const feeds: Record<string, ort.Tensor> = {};
    for (let k = 0; k < inputs.length; k++) {
      const t = inputs[k]!;
      feeds[this.#inputNames[k]!] = new ort.Tensor(t.type.ort as 'float32', t.data as Float32Array, t.dims);
    }
    const started = performance.now();
    const cpu = timeCpu ? cpuSpan() : undefined;
    const result = await this.#session.run(feeds);
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = cpu?.();
    return { seconds, cpuSeconds, outputs: this.#outputNames.map((name) => toTensor(result[name] as ort.Tensor)) };
  }

  close(): Promise<void> {
    return this.#session.release();
  }
}

function toTensor(t: ort.Tensor): Tensor {
  const type = dataTypeFromOrt(t.type);
  if (type === undefined) throw new OutriderError('internal', `model returned an unsupported element type ${t.type}`);
  return { type, dims: [...t.dims], data: t.data as TypedArray };
}
