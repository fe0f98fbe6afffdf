// OpenAI-style POST /v1/embeddings (SPEC §4): each input (a string, or one array of token ids)
// is an item. The merged answer has the OpenAI shape: `data[i].index` is the input's position,
// `model` is the backend's, and `usage` counts the tokens the backend computed for this request
// (cached items cost none; 0 when every item was cached).
//
// A stored item: u8 format (1 float, 2 base64) | u16 model length | model | vector, float64 LE
// for `float` (the exact numbers the backend wrote) or the decoded bytes for `base64`.
import type { Batch, Protocol, Split } from './protocol.ts';
import { canonicalJson, parseJsonBody } from '../cache/canonical.ts';

const FLOAT = 1;
const BASE64 = 2;

interface Meta {
  readonly model: string | null;
  readonly usage: { readonly prompt_tokens: number; readonly total_tokens: number } | null;
}

export const openai: Protocol = {
  name: 'openai',
  parse(body, headers) {
    const ct = headers['content-type'];
    const doc = parseJsonBody(body, typeof ct === 'string' ? ct : undefined);
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return null;
    const req = doc as Record<string, unknown>;
    const input = req['input'];
    const format = req['encoding_format'] ?? 'float';
    if (format !== 'float' && format !== 'base64') return null;
    let items: unknown[];
    let single: boolean;
    if (typeof input === 'string' || (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'number'))) {
      items = [input];
      single = true;
    } else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string' || (Array.isArray(x) && x.every((t) => typeof t === 'number')))) {
      items = input;
      single = false;
    } else {
      return null;   // the backend explains what is wrong with it
    }
    // `user` identifies the end user for abuse monitoring; it does not change an embedding.
    const { input: _input, user: _user, ...rest } = req;
    return new OpenAiBatch(req, items, single, canonicalJson(rest), format === 'base64' ? BASE64 : FLOAT);
  },
};

class OpenAiBatch implements Batch {
  readonly context: string;
  readonly items: readonly string[];
  private readonly req: Record<string, unknown>;
  private readonly inputs: readonly unknown[];
  private readonly single: boolean;
  private readonly format: number;

  constructor(req: Record<string, unknown>, inputs: unknown[], single: boolean, context: string, format: number) {
    this.req = req;
    this.inputs = inputs;
    this.single = single;
    this.context = context;
    this.format = format;
    this.items = inputs.map((x) => JSON.stringify(x));
  }

  subset(rows: readonly number[]): Buffer {
    const input = this.single ? this.inputs[0] : rows.map((r) => this.inputs[r]);
    return Buffer.from(JSON.stringify({ ...this.req, input }));
  }

  split(body: Buffer, count: number): Split | null {
    const doc = parseJsonBody(body, undefined);
    if (typeof doc !== 'object' || doc === null) return null;
    const res = doc as { data?: unknown; model?: unknown; usage?: unknown };
    if (!Array.isArray(res.data) || res.data.length !== count) return null;
    const model = typeof res.model === 'string' ? res.model : null;
    const values: Buffer[] = new Array(count);
    for (const d of res.data as unknown[]) {
      const item = d as { index?: unknown; embedding?: unknown } | null;
      const index = item?.index;
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count || values[index] !== undefined) return null;
      const v = this.encode(model ?? '', item!.embedding);
      if (v === null) return null;
      values[index] = v;
    }
    const u = res.usage as { prompt_tokens?: unknown; total_tokens?: unknown } | undefined;
    const usage = typeof u?.prompt_tokens === 'number' ? { prompt_tokens: u.prompt_tokens, total_tokens: typeof u.total_tokens === 'number' ? u.total_tokens : u.prompt_tokens } : null;
    const meta: Meta = { model, usage };
    return { values, meta };
  }

  private encode(model: string, embedding: unknown): Buffer | null {
    const m = Buffer.from(model);
    if (this.format === BASE64) {
      if (typeof embedding !== 'string') return null;
      const raw = Buffer.from(embedding, 'base64');
      const out = Buffer.allocUnsafeSlow(3 + m.length + raw.length);
      out.writeUInt8(BASE64, 0);
      out.writeUInt16LE(m.length, 1);
      m.copy(out, 3);
      raw.copy(out, 3 + m.length);
      return out;
    }
    if (!Array.isArray(embedding) || !embedding.every((x) => typeof x === 'number')) return null;
    const out = Buffer.allocUnsafeSlow(3 + m.length + 8 * embedding.length);
    out.writeUInt8(FLOAT, 0);
    out.writeUInt16LE(m.length, 1);
    m.copy(out, 3);
    let at = 3 + m.length;
    for (const x of embedding as number[]) at = out.writeDoubleLE(x, at);
    return out;
  }

  merge(values: readonly Buffer[], split: Split | null): Buffer {
    const meta = split?.meta as Meta | undefined;
    let model = meta?.model ?? null;
    let data = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const ml = v.readUInt16LE(1);
      model ??= v.toString('utf8', 3, 3 + ml);
      const at = 3 + ml;
      let embedding: string;
      if (v.readUInt8(0) === BASE64) {
        embedding = JSON.stringify(v.toString('base64', at));
      } else {
        const n = (v.length - at) / 8;
        const nums = new Array<number>(n);
        for (let k = 0; k < n; k++) nums[k] = v.readDoubleLE(at + 8 * k);
        embedding = `[${nums.join(',')}]`;
      }
      data += `${i === 0 ? '' : ','}{"object":"embedding","index":${i},"embedding":${embedding}}`;
    }
    const usage = meta?.usage ?? { prompt_tokens: 0, total_tokens: 0 };
    return Buffer.from(`{"object":"list","data":[${data}],"model":${JSON.stringify(model ?? '')},"usage":${JSON.stringify(usage)}}`);
  }

  /** Whether a stored value has this request's encoding (keys include it; this guards foreign bytes). */
  accepts(value: Buffer): boolean {
    return value.length >= 3 && value.readUInt8(0) === this.format && value.length >= 3 + value.readUInt16LE(1);
  }
}
