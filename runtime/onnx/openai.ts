// OpenAI-compatible POST /v1/embeddings (SPEC §4) for embedder-shaped models.
//
// `input` is a string, an array of strings, an array of token ids, or an array of arrays of
// token ids. Strings go through the built-in tokenizer; token ids must lie in its vocabulary
// (runtime option `tokenizer: builtin` says the model uses it). Each item becomes one row of
// `input_ids`, right-padded with the pad id to the longest item (and `attention_mask` 1/0
// when the model takes one). `model` is accepted and ignored: this worker serves one model and
// answers with its runtime name. `encoding_format: base64` returns little-endian float32 bytes,
// as OpenAI's clients request by default.
import { Buffer } from 'node:buffer';
import { OutriderError } from '../../proxy/errors.ts';
import type { RequestLimits } from './limits.ts';
import type { EmbedderSpec, Signature } from './signature.ts';
import type { Tensor } from './tensor.ts';
import { tokenize, TOKENIZER, type TokenizerSpec } from './tokenizer.ts';

export interface EmbeddingsRequest {
  readonly tensors: readonly Tensor[];
  readonly rows: number;
  readonly promptTokens: number;
  readonly base64: boolean;
}

const bad = (message: string) => new OutriderError('invalid_request', message);

function tokenIds(input: unknown, index: string, tok: TokenizerSpec): number[] {
  if (!Array.isArray(input)) throw bad(`input${index} must be a string or an array of token ids`);
  if (input.length > tok.maxTokens) throw bad(`input${index} has ${input.length} tokens; at most ${tok.maxTokens} are accepted`);
  for (let k = 0; k < input.length; k++) {
    const id: unknown = input[k];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= tok.vocabSize) {
      throw bad(`input${index}[${k}] must be a token id, an integer in [0, ${tok.vocabSize}); got ${JSON.stringify(id)?.slice(0, 40)}`);
    }
  }
  return input as number[];
}

function items(input: unknown, tok: TokenizerSpec, maxRows: number): { ids: number[][]; tokens: number } {
  if (typeof input === 'string') {
    const ids = tokenize(input, tok);
    return { ids: [ids], tokens: ids.length };
  }
  if (!Array.isArray(input)) throw bad('"input" must be a string, an array of strings, or an array of token-id arrays');
  if (input.length === 0) throw bad('"input" must not be an empty array');
  if (typeof input[0] === 'number') {
    const ids = tokenIds(input, '', tok).filter((id) => id !== tok.padId);
    return { ids: [ids], tokens: ids.length };
  }
  if (input.length > maxRows) throw bad(`"input" has ${input.length} items; at most ${maxRows} per request`);
  const ids: number[][] = [];
  let tokens = 0;
  for (let k = 0; k < input.length; k++) {
    const item: unknown = input[k];
    const row = typeof item === 'string' ? tokenize(item, tok) : tokenIds(item, `[${k}]`, tok).filter((id) => id !== tok.padId);
    tokens += row.length;
    ids.push(row);
  }
  return { ids, tokens };
}

export function parseEmbeddingsRequest(body: unknown, sig: Signature, emb: EmbedderSpec, limits: RequestLimits, tok: TokenizerSpec = TOKENIZER): EmbeddingsRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('request body must be a JSON object with an "input"');
  const b = body as Record<string, unknown>;
  if (b.input === undefined) throw bad('missing "input"');
  if (b.model !== undefined && typeof b.model !== 'string') throw bad('"model" must be a string');
  const format = b.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') throw bad(`"encoding_format" must be "float" or "base64", got ${JSON.stringify(format)}`);
  if (b.dimensions !== undefined && b.dimensions !== emb.dimensions) {
    throw bad(`"dimensions" must be ${emb.dimensions} (this model's output size), got ${JSON.stringify(b.dimensions)}`);
  }
  const { ids, tokens } = items(b.input, tok, limits.maxRows);

  // An item with no tokens is sent as a single pad id (see tokenizer.ts).
  const rows = ids.length;
  const width = Math.max(1, ...ids.map((r) => r.length));
  const spec = sig.inputs[emb.ids]!;
  const idData = spec.type.alloc(rows * width);
  const mask = emb.mask === null ? null : sig.inputs[emb.mask]!.type.alloc(rows * width);
  const big = spec.type.kind === 'bigint';
  for (let r = 0; r < rows; r++) {
    const row = ids[r]!;
    for (let c = 0; c < row.length; c++) {
      if (big) (idData as BigInt64Array)[r * width + c] = BigInt(row[c]!);
      else (idData as Int32Array)[r * width + c] = row[c]!;
      if (mask !== null) {
        if (mask instanceof BigInt64Array) mask[r * width + c] = 1n;
        else (mask as Int32Array)[r * width + c] = 1;
      }
    }
  }
  const dims = [rows, width];
  const tensors = sig.inputs.map((s, i): Tensor => {
    if (i === emb.ids) return { type: s.type, dims, data: idData };
    if (i === emb.mask) return { type: s.type, dims, data: mask! };
    return { type: s.type, dims, data: s.type.alloc(rows * width) };  // token_type_ids: all 0
  });
  return { tensors, rows, promptTokens: tokens, base64: format === 'base64' };
}

export function embeddingsResponse(model: string, out: Tensor, promptTokens: number, base64: boolean): string {
  const rows = out.dims[0]!;
  const dim = out.dims[1]!;
  const f = out.data as Float32Array;
  const data = new Array<object>(rows);
  for (let r = 0; r < rows; r++) {
    const row = f.subarray(r * dim, (r + 1) * dim);
    const embedding = base64 ? Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('base64') : Array.from(row);
    data[r] = { object: 'embedding', index: r, embedding };
  }
  return JSON.stringify({ object: 'list', data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
}
