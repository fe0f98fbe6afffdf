// What the loaded model accepts and returns, derived once from the session's metadata, and the
// facts batching and the endpoints need from it: can requests share a batch, which dims may be
// zero-padded, does the model look like a text embedder.
import { dataTypeFromOrt, supportedOrtTypes, type DataType } from './datatypes.ts';

/** onnxruntime-node's ValueMetadata as it crosses the worker_threads boundary. */
export interface RawValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: readonly (number | string)[];
}

export interface TensorSpec {
  readonly name: string;
  readonly type: DataType;
  readonly dims: readonly (number | null)[];     // null: dynamic
  readonly symbols: readonly (string | null)[];  // the symbolic name of a dynamic dim ('' when unnamed)
}

export interface EmbedderSpec {
  readonly ids: number;             // index of the input_ids input
  readonly mask: number | null;     // attention_mask, filled with 1 for tokens and 0 for padding
  readonly typeIds: number | null;  // token_type_ids, filled with 0
  readonly output: number;          // index of the [N, D] float32 output
  readonly dimensions: number;
}

export interface Signature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Dim 0 of every input and output is dynamic: requests can be concatenated along it. */
  readonly batchable: boolean;
  /** Per input, the dims (>= 1) a batch may zero-pad to the longest request. */
  readonly padDims: readonly (readonly number[])[];
  /** Per input, the dynamic dims (>= 1) that must be equal for requests to share a batch. */
  readonly keyDims: readonly (readonly number[])[];
  readonly embedder: EmbedderSpec | null;
}

export class UnsupportedModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedModelError';
  }
}

function toSpec(m: RawValueMetadata, role: 'input' | 'output'): TensorSpec {
  const type = m.isTensor && m.type !== undefined ? dataTypeFromOrt(m.type) : undefined;
  if (type === undefined) {
    const what = m.isTensor ? `element type ${m.type ?? 'unknown'}` : 'a non-tensor type';
    throw new UnsupportedModelError(`model ${role} "${m.name}" has ${what}; the onnx runtime supports tensors of ${supportedOrtTypes()}`);
  }
  const shape = m.shape ?? [];
  return {
    name: m.name,
    type,
    dims: shape.map((d) => (typeof d === 'number' ? d : null)),
    symbols: shape.map((d) => (typeof d === 'string' ? d : null)),
  };
}

export function buildSignature(inputs: readonly RawValueMetadata[], outputs: readonly RawValueMetadata[]): Signature {
  const ins = inputs.map((m) => toSpec(m, 'input'));
  const outs = outputs.map((m) => toSpec(m, 'output'));
  if (ins.length === 0) throw new UnsupportedModelError('model has no inputs');
  const batchable = [...ins, ...outs].every((s) => s.dims.length >= 1 && s.dims[0] === null);

  // Zero-padding a dynamic dim is only safe for integer inputs (token ids, masks: 0 is the pad id
  // and the masked-out value) and only when no output carries that dim, since results are
  // split back by rows alone and would otherwise keep the padding.
  const outputSymbols = new Set(outs.flatMap((s) => s.symbols.filter((x): x is string => x !== null)));
  const symbolPaddable = new Map<string, boolean>();
  for (const s of ins) {
    for (let d = 1; d < s.dims.length; d++) {
      const sym = s.symbols[d];
      if (sym === null || sym === undefined) continue;
      const ok = sym !== '' && s.type.kind !== 'float' && !outputSymbols.has(sym);
      symbolPaddable.set(sym, (symbolPaddable.get(sym) ?? true) && ok);
    }
  }
  const padDims: number[][] = [];
  const keyDims: number[][] = [];
  for (const s of ins) {
    const pad: number[] = [];
    const key: number[] = [];
    for (let d = 1; d < s.dims.length; d++) {
      if (s.dims[d] !== null) continue;
      if (symbolPaddable.get(s.symbols[d]!) === true) pad.push(d);
      else key.push(d);
    }
    padDims.push(pad);
    keyDims.push(key);
  }
  return { inputs: ins, outputs: outs, batchable, padDims, keyDims, embedder: batchable ? findEmbedder(ins, outs) : null };
}

const TOKEN_INPUT_TYPES = new Set(['int64', 'int32']);

/**
 * A model serves /v1/embeddings when it takes `input_ids` [N, S] (plus optionally
 * `attention_mask` / `token_type_ids` of the same shape) and returns a float32 [N, D].
 */
function findEmbedder(ins: readonly TensorSpec[], outs: readonly TensorSpec[]): EmbedderSpec | null {
  const isTokenInput = (s: TensorSpec) => TOKEN_INPUT_TYPES.has(s.type.ort) && s.dims.length === 2 && s.dims[1] === null;
  const ids = ins.findIndex((s) => s.name === 'input_ids' && isTokenInput(s));
  if (ids < 0) return null;
  let mask: number | null = null;
  let typeIds: number | null = null;
  for (let i = 0; i < ins.length; i++) {
    if (i === ids) continue;
    const s = ins[i]!;
    if (!isTokenInput(s)) return null;
    if (s.name === 'attention_mask') mask = i;
    else if (s.name === 'token_type_ids') typeIds = i;
    else return null;
  }
  const output = outs.findIndex((s) => s.type.ort === 'float32' && s.dims.length === 2 && s.dims[1] !== null);
  if (output < 0) return null;
  return { ids, mask, typeIds, output, dimensions: outs[output]!.dims[1]! };
}

/** "[N,64]" for messages: the batch dim is N, other dynamic dims their symbolic name or "?". */
export function describeSpecShape(s: TensorSpec, batchable: boolean): string {
  return `[${s.dims.map((d, i) => (d !== null ? String(d) : i === 0 && batchable ? 'N' : s.symbols[i] || '?')).join(',')}]`;
}

/** KServe v2 model metadata response body (dynamic dims are -1). */
export function modelMetadata(name: string, version: string, sig: Signature): object {
  const io = (s: TensorSpec) => ({ name: s.name, datatype: s.type.kserve, shape: s.dims.map((d) => d ?? -1) });
  return { name, versions: [version], platform: 'onnxruntime', inputs: sig.inputs.map(io), outputs: sig.outputs.map(io) };
}
