// OpenAI-style POST /v1/embeddings (SPEC §4): each input (a string, or one array of token ids)
// is an item. The merged answer has the OpenAI shape: `data[i].index` is the input's position,
// `model` is the backend's, and `usage` counts the tokens the backend computed for this request
// (cached items cost none; 0 when every item was cached).
//
// A stored item: u8 format (3 float, 4 base64) | u16 model length | model | the embedding's JSON
// text exactly as the backend wrote it (an array of numbers, or a base64 string). Answers are
// merged by concatenating those bytes: formatting the numbers again would cost more than a small
// model's compute. (Formats 1 and 2, binary vectors of earlier versions, are not accepted: such
// an entry is a miss and is replaced.)
import type { Batch, Protocol, Split } from './protocol.ts';
import { canonicalJson, parseJsonBody } from '../cache/canonical.ts';
import { elements, member } from './spans.ts';

const FLOAT = 3;
const BASE64 = 4;

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
    const name = typeof res.model === 'string' ? res.model : null;
    const model = Buffer.from(name ?? '');
    const values: Buffer[] = new Array(count);
    try {
      // The bytes are valid JSON (parsed above): the scan finds each item's embedding text.
      const data = member(body, 0, 'data')!;
      let j = 0;
      for (const el of elements(body, data.start)) {
        const item = (res.data as unknown[])[j++] as { index?: unknown; embedding?: unknown } | null;
        const index = item?.index;
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count || values[index] !== undefined) return null;
        if (!this.valid(item!.embedding)) return null;
        const at = member(body, el.start, 'embedding')!;
        values[index] = this.encode(model, body.subarray(at.start, at.end));
      }
    } catch {
      return null;
    }
    const u = res.usage as { prompt_tokens?: unknown; total_tokens?: unknown } | undefined;
    const usage = typeof u?.prompt_tokens === 'number' ? { prompt_tokens: u.prompt_tokens, total_tokens: typeof u.total_tokens === 'number' ? u.total_tokens : u.prompt_tokens } : null;
    const meta: Meta = { model: name, usage };
    return { values, meta };
  }

  /** An embedding of this request's encoding: an array of numbers, or a base64 string. */
  private valid(embedding: unknown): boolean {
    if (this.format === BASE64) return typeof embedding === 'string';
    return Array.isArray(embedding) && embedding.every((x) => typeof x === 'number');
  }

  private encode(model: Buffer, text: Buffer): Buffer {
    const out = Buffer.allocUnsafeSlow(3 + model.length + text.length);
    out[0] = this.format;
    out.writeUInt16LE(model.length, 1);
    model.copy(out, 3);
    text.copy(out, 3 + model.length);
    return out;
  }

  merge(values: readonly Buffer[], split: Split | null): Buffer {
    const meta = split?.meta as Meta | undefined;
    let model = meta?.model ?? null;
    const parts: Buffer[] = [LIST_HEAD];
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const ml = v.readUInt16LE(1);
      model ??= v.toString('utf8', 3, 3 + ml);
      parts.push(Buffer.from(`${i === 0 ? '' : ','}{"object":"embedding","index":${i},"embedding":`, 'latin1'), v.subarray(3 + ml), ITEM_TAIL);
    }
    const usage = meta?.usage ?? { prompt_tokens: 0, total_tokens: 0 };
    parts.push(Buffer.from(`],"model":${JSON.stringify(model ?? '')},"usage":${JSON.stringify(usage)}}`));
    return Buffer.concat(parts);
  }

  /** Whether a stored value has this request's encoding (keys include it; this guards foreign bytes). */
  accepts(value: Buffer): boolean {
    return value.length >= 3 && value[0] === this.format && value.length > 3 + value.readUInt16LE(1);
  }
}

const LIST_HEAD = Buffer.from('{"object":"list","data":[');
const ITEM_TAIL = Buffer.from('}');
