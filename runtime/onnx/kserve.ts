// Open Inference Protocol (KServe v2) REST inference bodies: the request is checked against the
// model's signature and turned into tensors before anything is queued; the response is built
// from the output tensors. Every refusal is a 400 `invalid_request` that names the input and
// the problem.
import { OutriderError } from '../../proxy/errors.ts';
import { dataTypeFromKserve, type DataType, type TypedArray } from './datatypes.ts';
import type { RequestLimits } from './limits.ts';
import { describeSpecShape, type Signature, type TensorSpec } from './signature.ts';
import type { Tensor } from './tensor.ts';

export interface InferRequest {
  readonly id: string | null;
  /** One tensor per model input, in the signature's order. */
  readonly tensors: readonly Tensor[];
  /** Dim 0 shared by the inputs (1 for a model that cannot batch). */
  readonly rows: number;
  /** Indices of the requested outputs; null for all of them. */
  readonly outputs: readonly number[] | null;
}

const bad = (message: string) => new OutriderError('invalid_request', message);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shapeText(dims: readonly unknown[]): string {
  return `[${dims.map((d) => String(d)).join(',')}]`;
}

export function parseInferRequest(body: unknown, sig: Signature, limits: RequestLimits): InferRequest {
  if (!isObject(body)) throw bad('request body must be a JSON object with an "inputs" array');
  const id = body.id;
  if (id !== undefined && typeof id !== 'string') throw bad('"id" must be a string');
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) throw bad('"inputs" must be a non-empty array');

  const byName = new Map<string, Record<string, unknown>>();
  for (let k = 0; k < inputs.length; k++) {
    const item: unknown = inputs[k];
    if (!isObject(item) || typeof item.name !== 'string') throw bad(`inputs[${k}] must be an object with a string "name"`);
    if (!sig.inputs.some((s) => s.name === item.name)) {
      throw bad(`unknown input "${item.name}"; the model's inputs are ${sig.inputs.map((s) => `"${s.name}"`).join(', ')}`);
    }
    if (byName.has(item.name)) throw bad(`input "${item.name}" is given twice`);
    byName.set(item.name, item);
  }

  const shapes: number[][] = [];
  for (const spec of sig.inputs) {
    const item = byName.get(spec.name);
    if (item === undefined) throw bad(`missing input "${spec.name}" (datatype ${spec.type.kserve}, shape ${describeSpecShape(spec, sig.batchable)})`);
    checkDatatype(spec, item.datatype);
    shapes.push(checkShape(spec, item.shape, sig, limits));
  }
  checkSharedDims(sig, shapes);

  const tensors = sig.inputs.map((spec, k) => {
    const dims = shapes[k]!;
    return { type: spec.type, dims, data: fill(spec, byName.get(spec.name)!.data, dims) };
  });
  return { id: id ?? null, tensors, rows: sig.batchable ? shapes[0]![0]! : 1, outputs: parseOutputs(body.outputs, sig) };
}

function checkDatatype(spec: TensorSpec, datatype: unknown): void {
  if (datatype === spec.type.kserve) return;
  if (typeof datatype !== 'string') throw bad(`input "${spec.name}": "datatype" must be a string, expected "${spec.type.kserve}"`);
  const known = dataTypeFromKserve(datatype) !== undefined || datatype === 'FP16' || datatype === 'BF16' || datatype === 'BYTES';
  throw bad(`input "${spec.name}": expected datatype ${spec.type.kserve}, got ${known ? datatype : `unknown datatype "${datatype}"`}`);
}

function checkShape(spec: TensorSpec, shape: unknown, sig: Signature, limits: RequestLimits): number[] {
  const expected = describeSpecShape(spec, sig.batchable);
  if (!Array.isArray(shape)) throw bad(`input "${spec.name}": "shape" must be an array of integers, expected ${expected}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) {
      throw bad(`input "${spec.name}": shape ${shapeText(shape)} must hold positive integers, expected ${expected}`);
    }
  }
  const dims = shape as number[];
  if (dims.length !== spec.dims.length) {
    throw bad(`input "${spec.name}": expected shape ${expected} (rank ${spec.dims.length}), got ${shapeText(dims)} (rank ${dims.length})`);
  }
  let elements = 1;
  for (let d = 0; d < dims.length; d++) {
    const want = spec.dims[d];
    if (want !== null && want !== undefined) {
      if (dims[d] !== want) throw bad(`input "${spec.name}": expected shape ${expected}, got ${shapeText(dims)}`);
    } else if (d === 0 && sig.batchable) {
      if (dims[0]! > limits.maxRows) throw bad(`input "${spec.name}": batch dimension ${dims[0]} exceeds the limit of ${limits.maxRows} rows per request`);
    } else if (dims[d]! > limits.maxDim) {
      throw bad(`input "${spec.name}": dimension ${d} is ${dims[d]}, above the limit of ${limits.maxDim}`);
    }
    elements *= dims[d]!;
  }
  if (elements > limits.maxElements) {
    throw bad(`input "${spec.name}": shape ${shapeText(dims)} has ${elements} elements, above the limit of ${limits.maxElements} per input`);
  }
  return dims;
}

/** Inputs must agree on the batch dim and on every dynamic dim they share a symbolic name for. */
function checkSharedDims(sig: Signature, shapes: readonly number[][]): void {
  const seen = new Map<string, { input: string; size: number }>();
  for (let k = 0; k < sig.inputs.length; k++) {
    const spec = sig.inputs[k]!;
    for (let d = 0; d < spec.dims.length; d++) {
      if (spec.dims[d] !== null) continue;
      const key = d === 0 && sig.batchable ? '\0batch' : spec.symbols[d];
      if (!key) continue;
      const size = shapes[k]![d]!;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, { input: spec.name, size });
      else if (first.size !== size) {
        const what = key === '\0batch' ? 'the batch dimension' : `dimension "${key}"`;
        throw bad(`inputs disagree on ${what}: "${first.input}" has ${first.size}, "${spec.name}" has ${size}`);
      }
    }
  }
}

/** Copies `data` (flat, or nested to match `dims`) into a new typed array, checking every element. */
function fill(spec: TensorSpec, data: unknown, dims: readonly number[]): TypedArray {
  if (!Array.isArray(data)) throw bad(`input "${spec.name}": "data" must be an array`);
  let total = 1;
  for (const d of dims) total *= d;
  const out = spec.type.alloc(total);
  if (data.length > 0 && !Array.isArray(data[0])) {
    if (data.length !== total) {
      throw bad(`input "${spec.name}": shape ${shapeText(dims)} needs ${total} elements, got ${data.length}`);
    }
    for (let k = 0; k < total; k++) put(spec, out, k, data[k]);
    return out;
  }
  let pos = 0;
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === dims.length) {
      put(spec, out, pos++, node);
      return;
    }
    if (!Array.isArray(node) || node.length !== dims[depth]) {
      const got = Array.isArray(node) ? `${node.length} elements` : 'a scalar';
      throw bad(`input "${spec.name}": data${path} has ${got}, shape ${shapeText(dims)} needs ${dims[depth]} there`);
    }
    for (let k = 0; k < node.length; k++) walk(node[k], depth + 1, `${path}[${k}]`);
  };
  walk(data, 0, '');
  return out;
}

const NON_FINITE = /^[+-]?(nan|inf(inity)?)$/i;
const where = (spec: TensorSpec, k: number) => `input "${spec.name}": element ${k}`;
const shown = (v: unknown) => JSON.stringify(v)?.slice(0, 40) ?? String(v);

function toNumber(spec: TensorSpec, k: number, v: unknown): number {
  if (typeof v === 'number') return v;
  // JSON has no NaN/Infinity literals; clients that serialise them anyway send strings.
  if (typeof v === 'string' && NON_FINITE.test(v.trim())) throw bad(`${where(spec, k)} is "${v}"; NaN and Infinity are not allowed`);
  throw bad(`${where(spec, k)} is not a number: ${shown(v)}`);
}

function toInteger(spec: TensorSpec, k: number, v: unknown): number {
  const n = toNumber(spec, k, v);
  const t: DataType = spec.type;
  if (!Number.isInteger(n)) throw bad(`${where(spec, k)} is ${n}, not an integer (${t.kserve})`);
  if (n < t.min || n > t.max) throw bad(`${where(spec, k)} is ${n}, out of range for ${t.kserve} [${t.min}, ${t.max}]`);
  return n;
}

/** Checks one JSON element against the input's element type and stores it at out[k]. */
function put(spec: TensorSpec, out: TypedArray, k: number, v: unknown): void {
  switch (spec.type.kind) {
    case 'float': {
      const n = toNumber(spec, k, v);
      if (!Number.isFinite(n)) throw bad(`${where(spec, k)} is ${n}; NaN and Infinity are not allowed`);
      (out as Float32Array)[k] = n;
      return;
    }
    case 'int':
      (out as Int32Array)[k] = toInteger(spec, k, v);
      return;
    case 'bigint':
      (out as BigInt64Array)[k] = BigInt(toInteger(spec, k, v));
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw bad(`${where(spec, k)} is not a boolean: ${shown(v)}`);
      (out as Uint8Array)[k] = v ? 1 : 0;
  }
}

function parseOutputs(outputs: unknown, sig: Signature): number[] | null {
  if (outputs === undefined) return null;
  if (!Array.isArray(outputs)) throw bad('"outputs" must be an array of {"name": ...}');
  const picked: number[] = [];
  for (let k = 0; k < outputs.length; k++) {
    const o: unknown = outputs[k];
    if (!isObject(o) || typeof o.name !== 'string') throw bad(`outputs[${k}] must be an object with a string "name"`);
    const idx = sig.outputs.findIndex((s) => s.name === o.name);
    if (idx < 0) throw bad(`unknown output "${o.name}"; the model's outputs are ${sig.outputs.map((s) => `"${s.name}"`).join(', ')}`);
    if (!picked.includes(idx)) picked.push(idx);
  }
  return picked.length === 0 ? null : picked;
}

/** A tensor's elements as JSON values (64-bit integers as numbers, bools as booleans). */
export function jsonData(t: Tensor): number[] | boolean[] {
  const d = t.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Array.from(d, Number);
  if (t.type.kind === 'bool') return Array.from(d as Uint8Array, (x) => x !== 0);
  return Array.from(d as Float32Array);
}

export function inferResponse(model: string, version: string, id: string | null, sig: Signature, outputs: readonly Tensor[], wanted: readonly number[] | null): string {
  const picked = wanted ?? sig.outputs.map((_, k) => k);
  return JSON.stringify({
    model_name: model,
    model_version: version,
    ...(id === null ? {} : { id }),
    outputs: picked.map((k) => {
      const t = outputs[k]!;
      return { name: sig.outputs[k]!.name, datatype: t.type.kserve, shape: t.dims, data: jsonData(t) };
    }),
  });
}
