// Dynamic batching for one model session.
//
// Requests queue up (at most maxQueue of them); a batch starts when the queued rows reach
// maxBatchSize or when the oldest request has waited maxQueueDelay, and only one batch runs
// at a time, so the next one collects while the current one computes. A batch takes queued
// requests in arrival order that share its shape key (the dynamic dims that cannot be padded),
// up to maxBatchSize rows; a request larger than that runs alone. Inputs are joined along
// dim 0, zero-padding the paddable dims (token ids, masks) to the longest request, and the
// outputs are split back by rows.
//
// A request leaves the queue without being computed when its deadline passes (504
// deadline_exceeded, SPEC §3) or its signal aborts (the client went away). If a batch of
// several requests fails, each is retried alone so one bad request cannot fail the others.
import { performance } from 'node:perf_hooks';
import { OutriderError } from '../../proxy/errors.ts';
import type { BatchingConfig } from '../../proxy/config/types.ts';
import type { Signature } from './signature.ts';
import { concatRows, sliceRows, type Tensor } from './tensor.ts';

export type DropReason = 'deadline' | 'cancelled' | 'overloaded';

export interface BatchObserver {
  depth(queued: number): void;
  batch(rows: number): void;
  waited(seconds: number): void;
  inference(seconds: number): void;
  dropped(reason: DropReason): void;
}

export interface RunResult {
  readonly outputs: readonly Tensor[];
  /** Wall time of session.run. */
  readonly seconds: number;
  /**
   * CPU time of the worker process over the same span (cpu-time.ts): unlike wall time, not
   * inflated by preemption. Only when the run was asked to time it (warmup's runs, which
   * `inference: auto` judges): two getrusage calls a batch are not spent on serving.
   */
  readonly cpuSeconds?: number;
}

export type RunBatch = (inputs: readonly Tensor[]) => Promise<RunResult>;

export interface SubmitOptions {
  /** performance.now() timestamp after which the request is not worth computing; null for none. */
  readonly deadline: number | null;
  readonly signal: AbortSignal | null;
  /** Start a batch now instead of waiting out maxQueueDelay (the worker's own warmup requests). */
  readonly flush?: boolean;
}

type JobState = 'queued' | 'running' | 'settled';

interface Job {
  readonly inputs: readonly Tensor[];
  readonly rows: number;
  readonly key: string;
  readonly enqueuedAt: number;
  readonly deadline: number | null;
  readonly flush: boolean;
  state: JobState;
  timer: NodeJS.Timeout | null;
  signal: AbortSignal | null;
  onAbort: (() => void) | null;
  resolve: (outputs: readonly Tensor[]) => void;
  reject: (err: OutriderError) => void;
}

const deadlineError = () => new OutriderError('deadline_exceeded', 'deadline exceeded while queued for inference');
const cancelledError = () => new OutriderError('unavailable', 'request cancelled by the client', { detail: 'cancelled' });

export class Batcher {
  readonly #maxBatchSize: number;
  readonly #maxQueueDelay: number;
  readonly #maxQueue: number;
  readonly #sig: Signature;
  readonly #run: RunBatch;
  readonly #observer: BatchObserver;
  #queue: Job[] = [];
  #queuedRows = 0;
  #running = false;
  #timer: NodeJS.Timeout | null = null;
  #closing = false;
  #idleWaiters: (() => void)[] = [];

  constructor(batching: BatchingConfig, sig: Signature, run: RunBatch, observer: BatchObserver) {
    this.#maxBatchSize = Math.max(1, batching.maxBatchSize);
    this.#maxQueueDelay = Math.max(0, batching.maxQueueDelay);
    this.#maxQueue = Math.max(1, batching.maxQueue);
    this.#sig = sig;
    this.#run = run;
    this.#observer = observer;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Queues one request's input tensors (signature order); resolves with all its output tensors. */
  submit(inputs: readonly Tensor[], rows: number, opts: SubmitOptions): Promise<readonly Tensor[]> {
    if (this.#closing) return Promise.reject(new OutriderError('unavailable', 'runtime is draining'));
    if (opts.signal?.aborted) {
      this.#observer.dropped('cancelled');
      return Promise.reject(cancelledError());
    }
    const now = performance.now();
    if (opts.deadline !== null && opts.deadline <= now) {
      this.#observer.dropped('deadline');
      return Promise.reject(deadlineError());
    }
    if (this.#queue.length >= this.#maxQueue) {
      this.#observer.dropped('overloaded');
      return Promise.reject(new OutriderError('overloaded', `inference queue is full (${this.#maxQueue} requests)`));
    }
    return new Promise((resolve, reject) => {
      const job: Job = {
        inputs, rows, key: this.#keyOf(inputs), enqueuedAt: now, deadline: opts.deadline, flush: opts.flush === true, state: 'queued',
        timer: null, signal: opts.signal, onAbort: null, resolve, reject,
      };
      if (opts.deadline !== null) {
        // Whole milliseconds: one Node timer list per distinct duration, not one per request.
        job.timer = setTimeout(() => this.#drop(job, 'deadline', deadlineError()), Math.ceil(opts.deadline - now));
      }
      if (opts.signal !== null) {
        job.onAbort = () => this.#drop(job, 'cancelled', cancelledError());
        opts.signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.#queue.push(job);
      this.#queuedRows += rows;
      this.#observer.depth(this.#queue.length);
      this.#schedule();
    });
  }

  /** Refuses new requests and resolves once everything queued and running has been answered. */
  close(): Promise<void> {
    this.#closing = true;
    this.#schedule();
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #idle(): boolean {
    return !this.#running && this.#queue.length === 0;
  }

  /** Requests may share a batch only when the dims that cannot be padded are equal. */
  #keyOf(inputs: readonly Tensor[]): string {
    let key = '';
    const keyDims = this.#sig.keyDims;
    for (let i = 0; i < keyDims.length; i++) {
      for (const d of keyDims[i]!) key += `${inputs[i]!.dims[d]},`;
    }
    return key;
  }

  #drop(job: Job, reason: DropReason, err: OutriderError): void {
    if (job.state === 'settled') return;
    if (job.state === 'queued') {
      const at = this.#queue.indexOf(job);
      if (at >= 0) this.#queue.splice(at, 1);
      this.#queuedRows -= job.rows;
      this.#observer.depth(this.#queue.length);
      this.#observer.dropped(reason);
    }
    // A running job's batch goes on for the others; its own rows are discarded.
    this.#settle(job);
    job.reject(err);
    if (this.#closing && this.#idle()) this.#notifyIdle();
  }

  #settle(job: Job): void {
    job.state = 'settled';
    if (job.timer !== null) clearTimeout(job.timer);
    if (job.onAbort !== null) job.signal!.removeEventListener('abort', job.onAbort);
    job.timer = null;
    job.onAbort = null;
    job.signal = null;
  }

  #schedule(): void {
    if (this.#running || this.#queue.length === 0) return;
    const head = this.#queue[0]!;
    const waited = performance.now() - head.enqueuedAt;
    if (this.#closing || head.flush || this.#queuedRows >= this.#maxBatchSize || waited >= this.#maxQueueDelay) {
      if (this.#timer !== null) {
        clearTimeout(this.#timer);
        this.#timer = null;
      }
      void this.#dispatch();
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#schedule();
      }, this.#maxQueueDelay - waited);
    }
  }

  #take(): Job[] {
    const head = this.#queue[0]!;
    if (!this.#sig.batchable || head.rows >= this.#maxBatchSize) {
      this.#queue.shift();
      return [head];
    }
    const batch: Job[] = [];
    const rest: Job[] = [];
    let rows = 0;
    for (const job of this.#queue) {
      if (job.key === head.key && rows + job.rows <= this.#maxBatchSize) {
        batch.push(job);
        rows += job.rows;
      } else {
        rest.push(job);
      }
    }
    this.#queue = rest;
    return batch;
  }

  /** Deadline timers can fire late when the loop is busy; nothing expired may reach a batch. */
  #dropExpired(now: number): void {
    for (let k = this.#queue.length - 1; k >= 0; k--) {
      const job = this.#queue[k]!;
      if (job.deadline !== null && job.deadline <= now) this.#drop(job, 'deadline', deadlineError());
    }
  }

  async #dispatch(): Promise<void> {
    const now = performance.now();
    this.#dropExpired(now);
    if (this.#queue.length === 0) return;
    this.#running = true;
    const batch = this.#take();
    let rows = 0;
    for (const job of batch) {
      job.state = 'running';
      rows += job.rows;
      this.#observer.waited((now - job.enqueuedAt) / 1000);
    }
    this.#queuedRows -= rows;
    this.#observer.depth(this.#queue.length);
    try {
      if (batch.length === 1) {
        await this.#runAlone(batch[0]!);
      } else {
        try {
          this.#deliver(batch, await this.#runTracked(this.#join(batch), rows));
        } catch {
          for (const job of batch) if (job.state === 'running') await this.#runAlone(job);
        }
      }
    } finally {
      this.#running = false;
      if (this.#closing && this.#idle()) this.#notifyIdle();
      else this.#schedule();
    }
  }

  async #runAlone(job: Job): Promise<void> {
    try {
      const outputs = await this.#runTracked(job.inputs, job.rows);
      if (job.state === 'running') {
        this.#settle(job);
        job.resolve(outputs);
      }
    } catch (e) {
      if (job.state === 'running') {
        this.#settle(job);
        job.reject(e instanceof OutriderError ? e : new OutriderError('internal', `inference failed: ${(e as Error).message}`, { cause: e }));
      }
    }
  }

  async #runTracked(inputs: readonly Tensor[], rows: number): Promise<readonly Tensor[]> {
    this.#observer.batch(rows);
    const result = await this.#run(inputs);
    this.#observer.inference(result.seconds);
    return result.outputs;
  }

  #join(batch: readonly Job[]): Tensor[] {
    const total = batch.reduce((n, j) => n + j.rows, 0);
    return this.#sig.inputs.map((spec, i) => {
      const first = batch[0]!.inputs[i]!;
      const dims = [total, ...first.dims.slice(1)];
      for (const d of this.#sig.padDims[i]!) {
        for (const job of batch) dims[d] = Math.max(dims[d]!, job.inputs[i]!.dims[d]!);
      }
      return concatRows(spec.type, batch.map((j) => j.inputs[i]!), dims);
    });
  }

  #deliver(batch: readonly Job[], outputs: readonly Tensor[]): void {
    const total = batch.reduce((n, j) => n + j.rows, 0);
    for (let k = 0; k < outputs.length; k++) {
      if (outputs[k]!.dims[0] !== total) {
        throw new Error(`output "${this.#sig.outputs[k]!.name}" has ${outputs[k]!.dims[0]} rows for a batch of ${total}`);
      }
    }
    let start = 0;
    for (const job of batch) {
      if (job.state === 'running') {
        const mine = outputs.map((t) => sliceRows(t, start, job.rows));
        this.#settle(job);
        job.resolve(mine);
      }
      start += job.rows;
    }
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
