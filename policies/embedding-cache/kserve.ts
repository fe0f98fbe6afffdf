// KServe v2 (Open Inference Protocol) POST /v2/models/{name}[/versions/{v}]/infer: each row of
// the batch (index i of the first dimension of every input tensor) is an item, keyed by that
// row's values in every input (padding included: `input_ids` padded to another length is
// another item). The backend's outputs must have one row per input row to be split and
// stored; the merged answer stacks the rows back in request order.
//
// Binary tensor data (the binary extension) is not split: such requests go to the backend whole.
import type { Batch, Protocol, Split } from './protocol.ts';
import { canonicalJson, parseJsonBody } from '../cache/canonical.ts';

interface Tensor {
  readonly name: string;
  readonly datatype: string;
  /** Dimensions after the first (the batch). */
  readonly rowShape: readonly number[];
  readonly rowSize: number;
  /** Row-major values, flattened. */
  readonly flat: readonly unknown[];
  /** The tensor's fields but shape and data (name, datatype, parameters). */
  readonly rest: { readonly name: string; readonly datatype: string; readonly [field: string]: unknown };
}

interface StoredRow {
  readonly m: string;
  readonly v: string | null;
  readonly o: readonly { readonly name: string; readonly datatype: string; readonly shape: readonly number[]; readonly data: readonly unknown[]; readonly parameters?: unknown }[];
}

interface Meta {
  readonly model_name: string | null;
  readonly model_version: string | null;
}

/** `POST /v2/models/{name}[/versions/{v}]/infer`. */
export const KSERVE_INFER = /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer$/;

export const kserve: Protocol = {
  name: 'kserve',
  parse(body, headers) {
    if (headers['inference-header-content-length'] !== undefined) return null;
    const ct = headers['content-type'];
    const doc = parseJsonBody(body, typeof ct === 'string' ? ct : undefined);
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return null;
    const req = doc as Record<string, unknown>;
    if (wantsBinary(req)) return null;
    const inputs = req['inputs'];
    if (!Array.isArray(inputs) || inputs.length === 0) return null;
    let rows = -1;
    const tensors: Tensor[] = [];
    for (const t of inputs as unknown[]) {
      const tensor = readTensor(t);
      if (tensor === null) return null;
      const n = tensor.flat.length / Math.max(1, tensor.rowSize);
      if (rows === -1) rows = n;
      if (n !== rows || !Number.isInteger(n)) return null;
      tensors.push(tensor);
    }
    if (rows < 1) return null;
    const { inputs: _inputs, id, ...rest } = req;
    const context = canonicalJson({ ...rest, inputs: tensors.map((t) => ({ ...t.rest, rowShape: t.rowShape })) });
    return new KServeBatch(req, tensors, rows, context, typeof id === 'string' ? id : null);
  },
};

function wantsBinary(req: Record<string, unknown>): boolean {
  const p = req['parameters'] as Record<string, unknown> | undefined;
  if (p?.['binary_data_output'] === true) return true;
  const outputs = req['outputs'];
  return Array.isArray(outputs) && outputs.some((o) => (o as { parameters?: Record<string, unknown> } | null)?.parameters?.['binary_data'] === true);
}

function readTensor(t: unknown): Tensor | null {
  if (typeof t !== 'object' || t === null) return null;
  const { name, shape, datatype, data, ...others } = t as Record<string, unknown>;
  if (typeof name !== 'string' || typeof datatype !== 'string' || !Array.isArray(data)) return null;
  if (!Array.isArray(shape) || shape.length < 1 || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) return null;
  const params = others['parameters'] as Record<string, unknown> | undefined;
  if (params?.['binary_data_size'] !== undefined) return null;
  const dims = shape as number[];
  const rowShape = dims.slice(1);
  const rowSize = rowShape.reduce((a, b) => a * b, 1);
  const flat = data.some(Array.isArray) ? (data as unknown[]).flat(Infinity) : data;
  if (flat.length !== dims[0]! * rowSize) return null;
  return { name, datatype, rowShape, rowSize, flat, rest: { name, datatype, ...others } };
}

class KServeBatch implements Batch {
  readonly context: string;
  readonly items: readonly string[];
  private readonly req: Record<string, unknown>;
  private readonly tensors: readonly Tensor[];
  private readonly id: string | null;

  constructor(req: Record<string, unknown>, tensors: Tensor[], rows: number, context: string, id: string | null) {
    this.req = req;
    this.tensors = tensors;
    this.context = context;
    this.id = id;
    const items = new Array<string>(rows);
    for (let r = 0; r < rows; r++) items[r] = JSON.stringify(tensors.map((t) => t.flat.slice(r * t.rowSize, (r + 1) * t.rowSize)));
    this.items = items;
  }

  subset(rows: readonly number[]): Buffer {
    const inputs = this.tensors.map((t) => {
      const data: unknown[] = [];
      for (const r of rows) for (let k = r * t.rowSize; k < (r + 1) * t.rowSize; k++) data.push(t.flat[k]);
      return { ...t.rest, shape: [rows.length, ...t.rowShape], data };
    });
    return Buffer.from(JSON.stringify({ ...this.req, inputs }));
  }

  split(body: Buffer, count: number): Split | null {
    const doc = parseJsonBody(body, undefined) as { model_name?: unknown; model_version?: unknown; outputs?: unknown } | undefined;
    if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.outputs) || doc.outputs.length === 0) return null;
    const outs: Tensor[] = [];
    for (const o of doc.outputs as unknown[]) {
      const t = readTensor(o);
      if (t === null || t.flat.length !== count * t.rowSize) return null;
      outs.push(t);
    }
    const meta: Meta = { model_name: typeof doc.model_name === 'string' ? doc.model_name : null, model_version: typeof doc.model_version === 'string' ? doc.model_version : null };
    const values = new Array<Buffer>(count);
    for (let r = 0; r < count; r++) {
      const row: StoredRow = {
        m: meta.model_name ?? '',
        v: meta.model_version,
        o: outs.map((t) => ({ ...t.rest, shape: t.rowShape, data: t.flat.slice(r * t.rowSize, (r + 1) * t.rowSize) })),
      };
      values[r] = Buffer.from(JSON.stringify(row));
    }
    return { values, meta };
  }

  merge(values: readonly Buffer[], split: Split | null): Buffer {
    const rows = values.map((v) => JSON.parse(v.toString('utf8')) as StoredRow);
    const meta = split?.meta as Meta | undefined;
    const first = rows[0]!;
    const outputs = first.o.map((o, k) => {
      const data: unknown[] = [];
      for (const row of rows) for (const x of row.o[k]!.data) data.push(x);
      return { ...o, shape: [rows.length, ...o.shape], data };
    });
    const res: Record<string, unknown> = { model_name: meta?.model_name ?? first.m };
    const version = meta === undefined ? first.v : meta.model_version;
    if (version !== null) res['model_version'] = version;
    if (this.id !== null) res['id'] = this.id;
    res['outputs'] = outputs;
    return Buffer.from(JSON.stringify(res));
  }

  accepts(value: Buffer): boolean {
    return value.length > 0 && value[0] === 0x7b /* { */;
  }
}
