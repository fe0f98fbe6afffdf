// The worker's HTTP surface (SPEC §4): KServe v2 REST for the one model it serves, plus
// OpenAI /v1/embeddings when the model is embedder-shaped. Handlers throw OutriderError; the
// one rescue in `handle` writes the SPEC §3 JSON error with the request's id.
//
//   GET  /v2/health/live                              200 while the process serves HTTP
//   GET  /v2/health/ready                             200 after warmup, else 503 unavailable
//   GET  /v2/models/{name}[/versions/{v}]             model metadata (once the model is loaded)
//   GET  /v2/models/{name}[/versions/{v}]/ready       200 after warmup, else 503
//   POST /v2/models/{name}[/versions/{v}]/infer       inference through the batcher
//   POST /v1/embeddings                               embedder models only, else 404
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { OnnxRuntimeConfig } from '../../proxy/config/types.ts';
import { errorBody, OutriderError, toOutriderError } from '../../proxy/errors.ts';
import type { Batcher } from './batcher.ts';
import { readJson } from './body.ts';
import { inferResponse, parseInferRequest } from './kserve.ts';
import type { RequestLimits } from './limits.ts';
import { embeddingsResponse, parseEmbeddingsRequest } from './openai.ts';
import { modelMetadata, type Signature } from './signature.ts';
import { WARMUP_HEADER } from './warmup.ts';

export type WorkerState = 'loading' | 'warming' | 'ready' | 'draining';

export interface LoadedModel {
  readonly sig: Signature;
  readonly batcher: Batcher;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TIMEOUT_MS = /^\d+(\.\d+)?$/;

interface Ctx {
  readonly requestId: string;
  readonly started: number;
}

type Route =
  | { readonly kind: 'live' | 'ready' | 'embeddings' }
  | { readonly kind: 'model' | 'model-ready' | 'infer'; readonly name: string; readonly version: string | null };

const ALLOW: Record<Route['kind'], string> = {
  live: 'GET, HEAD', ready: 'GET, HEAD', model: 'GET, HEAD', 'model-ready': 'GET, HEAD', infer: 'POST', embeddings: 'POST',
};

function matchRoute(pathname: string): Route | null {
  if (pathname === '/v2/health/live') return { kind: 'live' };
  if (pathname === '/v2/health/ready') return { kind: 'ready' };
  if (pathname === '/v1/embeddings') return { kind: 'embeddings' };
  if (!pathname.startsWith('/v2/models/')) return null;
  let parts: string[];
  try {
    parts = pathname.slice('/v2/models/'.length).split('/').map(decodeURIComponent);
  } catch {
    return null;
  }
  const name = parts[0]!;
  let rest = parts.slice(1);
  let version: string | null = null;
  if (rest[0] === 'versions') {
    if (rest.length < 2) return null;
    version = rest[1]!;
    rest = rest.slice(2);
  }
  if (name === '' || rest.length > 1) return null;
  if (rest.length === 0) return { kind: 'model', name, version };
  if (rest[0] === 'ready') return { kind: 'model-ready', name, version };
  if (rest[0] === 'infer') return { kind: 'infer', name, version };
  return null;
}

export class WorkerHttp {
  readonly server: Server;
  readonly #cfg: OnnxRuntimeConfig;
  readonly #limits: RequestLimits;
  readonly #log: Logger;
  readonly #warmupToken: string;
  #state: WorkerState = 'loading';
  #model: LoadedModel | null = null;
  #inFlight = 0;
  #onIdle: (() => void) | null = null;

  /** `warmupToken`: the secret that admits the worker's own warmup requests while warming. */
  constructor(cfg: OnnxRuntimeConfig, limits: RequestLimits, log: Logger, warmupToken: string) {
    this.#warmupToken = warmupToken;
    this.#cfg = cfg;
    this.#limits = limits;
    this.#log = log;
    this.server = createServer({ keepAlive: true }, (req, res) => void this.#handle(req, res));
    // Longer than the proxy's pooled-connection idle time, so the client side closes idle
    // keep-alive connections first and never writes into one the worker is closing.
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 66_000;
  }

  get state(): WorkerState {
    return this.#state;
  }

  listen(host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  attach(model: LoadedModel): void {
    this.#model = model;
    this.#state = 'warming';
  }

  setReady(): void {
    if (this.#state === 'warming') this.#state = 'ready';
  }

  /** Stops accepting connections and requests; resolves when every response has been written. */
  drain(): Promise<void> {
    this.#state = 'draining';
    this.server.close();
    this.server.closeIdleConnections();
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => { this.#onIdle = resolve; });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const incoming = req.headers['x-request-id'];
    const ctx: Ctx = {
      requestId: typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID(),
      started: performance.now(),
    };
    res.setHeader('x-request-id', ctx.requestId);
    this.#inFlight++;
    res.once('close', () => {
      if (--this.#inFlight === 0 && this.#onIdle !== null) this.#onIdle();
    });
    try {
      await this.#route(req, res, ctx);
    } catch (e) {
      const err = toOutriderError(e);
      if (err.code === 'internal') this.#log.error({ err: e, requestId: ctx.requestId }, 'request failed');
      if (res.headersSent || res.destroyed) return;
      if (err.retryAfter !== undefined) res.setHeader('retry-after', String(err.retryAfter));
      // The rest of an oversized body is not read: the connection cannot carry another request.
      if (err.code === 'body_too_large' || this.#state === 'draining') res.setHeader('connection', 'close');
      this.#send(res, err.status, errorBody(err, ctx.requestId));
    }
  }

  #send(res: ServerResponse, status: number, body: string): void {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
  }

  async #route(req: IncomingMessage, res: ServerResponse, ctx: Ctx): Promise<void> {
    if (this.#state === 'draining') throw new OutriderError('unavailable', 'runtime is draining');
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const route = matchRoute(q < 0 ? url : url.slice(0, q));
    if (route === null) throw new OutriderError('not_found', `no such endpoint: ${req.method} ${q < 0 ? url : url.slice(0, q)}`);
    const allow = ALLOW[route.kind];
    const method = req.method === 'HEAD' && allow.includes('HEAD') ? 'GET' : req.method;
    if (!allow.split(', ').includes(method ?? '')) {
      res.setHeader('allow', allow);
      throw new OutriderError('method_not_allowed', `${req.method} is not allowed here; use ${allow}`);
    }
    switch (route.kind) {
      case 'live':
        return this.#send(res, 200, '{"live":true}');
      case 'ready':
        this.#requireReady(null);
        return this.#send(res, 200, '{"ready":true}');
      case 'model':
        return this.#send(res, 200, JSON.stringify(modelMetadata(this.#cfg.name, this.#cfg.version, this.#checkModel(route.name, route.version).sig)));
      case 'model-ready':
        this.#checkModel(route.name, route.version);
        this.#requireReady(null);
        return this.#send(res, 200, JSON.stringify({ name: this.#cfg.name, ready: true }));
      case 'infer':
        return this.#infer(req, res, ctx, this.#checkModel(route.name, route.version));
      case 'embeddings':
        return this.#embeddings(req, res, ctx);
    }
  }

  #checkModel(name: string, version: string | null): LoadedModel {
    if (name !== this.#cfg.name) throw new OutriderError('not_found', `unknown model "${name}"; this runtime serves "${this.#cfg.name}"`);
    if (version !== null && version !== this.#cfg.version) {
      throw new OutriderError('not_found', `unknown version "${version}" of model "${name}"; available: "${this.#cfg.version}"`);
    }
    if (this.#model === null) throw new OutriderError('unavailable', `model "${name}" is still loading`);
    return this.#model;
  }

  #isWarmup(req: IncomingMessage): boolean {
    return this.#state === 'warming' && req.headers[WARMUP_HEADER] === this.#warmupToken;
  }

  /** Model work is refused until warmup is done, except the warmup's own requests. */
  #requireReady(req: IncomingMessage | null): void {
    if (this.#state === 'ready') return;
    if (req !== null && this.#isWarmup(req)) return;
    throw new OutriderError('unavailable', `runtime is ${this.#state === 'draining' ? 'draining' : 'not ready yet (warming up)'}`);
  }

  /** SPEC §3: x-timeout-ms is the budget left; the deadline counts from when the request arrived. */
  #deadline(req: IncomingMessage, ctx: Ctx): number | null {
    const raw = req.headers['x-timeout-ms'];
    if (raw === undefined) return null;
    if (typeof raw !== 'string' || !TIMEOUT_MS.test(raw.trim())) {
      throw new OutriderError('invalid_request', `x-timeout-ms must be a number of milliseconds, got ${JSON.stringify(raw)}`);
    }
    return ctx.started + Number(raw.trim());
  }

  /** Aborts when the client goes away before its response is written, so the queue drops the work. */
  #clientGone(res: ServerResponse): AbortSignal {
    const ac = new AbortController();
    res.once('close', () => { if (!res.writableFinished) ac.abort(); });
    return ac.signal;
  }

  async #infer(req: IncomingMessage, res: ServerResponse, ctx: Ctx, model: LoadedModel): Promise<void> {
    this.#requireReady(req);
    const deadline = this.#deadline(req, ctx);
    const parsed = parseInferRequest(await readJson(req, this.#limits.maxBodyBytes), model.sig, this.#limits);
    const outputs = await model.batcher.submit(parsed.tensors, parsed.rows, { deadline, signal: this.#clientGone(res), flush: this.#isWarmup(req) });
    this.#send(res, 200, inferResponse(this.#cfg.name, this.#cfg.version, parsed.id, model.sig, outputs, parsed.outputs));
  }

  async #embeddings(req: IncomingMessage, res: ServerResponse, ctx: Ctx): Promise<void> {
    const model = this.#model;
    if (model !== null && model.sig.embedder === null) {
      throw new OutriderError('not_found', `model "${this.#cfg.name}" is not an embedding model (it has no int64 input_ids [N,S] input and [N,D] float32 output)`);
    }
    this.#requireReady(req);
    const { sig, batcher } = model!;
    const emb = sig.embedder!;
    const deadline = this.#deadline(req, ctx);
    const parsed = parseEmbeddingsRequest(await readJson(req, this.#limits.maxBodyBytes), sig, emb, this.#limits);
    const outputs = await batcher.submit(parsed.tensors, parsed.rows, { deadline, signal: this.#clientGone(res), flush: this.#isWarmup(req) });
    this.#send(res, 200, embeddingsResponse(this.#cfg.name, outputs[emb.output]!, parsed.promptTokens, parsed.base64));
  }
}
