// Output comparison between the primary's answer and the shadow's (SPEC §2 `shadow.compare`).
// Every kind yields a divergence (0 = the same) and a verdict against a tolerance:
//   argmax        KServe v2 tensors: 1 − the share of rows (all but the last dimension) whose
//                 argmax agrees; default tolerance 0, so one disagreeing row is a mismatch
//   max-abs-diff  KServe v2 tensors: the largest |a − b| over every element
//   cosine        embeddings (OpenAI `data[].embedding`, or KServe rows): 1 − the lowest
//                 cosine similarity of any pair, i.e. the worst item's cosine distance
//   exact         the bodies' bytes: 0 when equal, else 1
// A body that cannot be read as the kind asks blames its side: the primary's makes the pair
// incomparable, the shadow's is an error of the shadow.
import type { ShadowPolicyConfig } from './config.ts';

export type CompareKind = ShadowPolicyConfig['compare'];

export const DEFAULT_TOLERANCE: Readonly<Record<CompareKind, number>> = {
  argmax: 0,
  'max-abs-diff': 1e-4,
  cosine: 1e-5,
  exact: 0,
};

export type Verdict =
  | { readonly result: 'match' | 'mismatch'; readonly divergence: number | null; readonly detail: string | null }
  | { readonly result: 'incomparable' | 'shadow-invalid'; readonly divergence: null; readonly detail: string };

interface Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

export function compareBodies(kind: CompareKind, primary: Buffer, shadow: Buffer, tolerance: number): Verdict {
  if (kind === 'exact') {
    const same = primary.equals(shadow);
    return verdict(same ? 0 : 1, tolerance, same ? null : `bodies differ (${primary.length} vs ${shadow.length} bytes)`);
  }
  const p = parse(primary);
  if (p === undefined) return { result: 'incomparable', divergence: null, detail: 'the primary answer is not JSON' };
  const s = parse(shadow);
  if (s === undefined) return { result: 'shadow-invalid', divergence: null, detail: 'the shadow answer is not JSON' };
  if (kind === 'cosine') {
    const a = vectors(p);
    if (a === null) return { result: 'incomparable', divergence: null, detail: 'the primary answer has no embeddings' };
    const b = vectors(s);
    if (b === null) return { result: 'shadow-invalid', divergence: null, detail: 'the shadow answer has no embeddings' };
    return cosine(a, b, tolerance);
  }
  const a = tensors(p);
  if (a === null) return { result: 'incomparable', divergence: null, detail: 'the primary answer has no numeric KServe v2 outputs' };
  const b = tensors(s);
  if (b === null) return { result: 'shadow-invalid', divergence: null, detail: 'the shadow answer has no numeric KServe v2 outputs' };
  const pairs = pair(a, b);
  if (typeof pairs === 'string') return { result: 'mismatch', divergence: null, detail: pairs };
  return kind === 'argmax' ? argmax(pairs, tolerance) : maxAbsDiff(pairs, tolerance);
}

function verdict(divergence: number, tolerance: number, detail: string | null): Verdict {
  return { result: divergence <= tolerance ? 'match' : 'mismatch', divergence, detail };
}

function parse(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function tensors(doc: unknown): Tensor[] | null {
  const outputs = (doc as { outputs?: unknown } | null)?.outputs;
  if (!Array.isArray(outputs) || outputs.length === 0) return null;
  const out: Tensor[] = [];
  for (const o of outputs as unknown[]) {
    const t = o as { name?: unknown; shape?: unknown; data?: unknown } | null;
    if (t === null || typeof t !== 'object' || !Array.isArray(t.shape) || !Array.isArray(t.data)) return null;
    const data = flatten(t.data);
    if (data === null) return null;
    const shape = t.shape.every((d) => Number.isInteger(d)) ? (t.shape as number[]) : [data.length];
    out.push({ name: typeof t.name === 'string' ? t.name : '', shape, data });
  }
  return out;
}

/** Tensor data may come flat (the v2 REST form) or nested; numbers only. */
function flatten(data: readonly unknown[]): number[] | null {
  const out: number[] = [];
  const walk = (xs: readonly unknown[]): boolean => {
    for (const x of xs) {
      if (typeof x === 'number') out.push(x);
      else if (Array.isArray(x)) { if (!walk(x)) return false; }
      else return false;
    }
    return true;
  };
  return walk(data) ? out : null;
}

/** Outputs paired by name when both sides name them alike, else by position. */
function pair(a: readonly Tensor[], b: readonly Tensor[]): [Tensor, Tensor][] | string {
  if (a.length !== b.length) return `the primary has ${a.length} outputs, the shadow ${b.length}`;
  const byName = new Map(b.map((t) => [t.name, t]));
  const named = a.every((t) => byName.has(t.name)) && byName.size === b.length;
  const pairs: [Tensor, Tensor][] = a.map((t, i) => [t, named ? byName.get(t.name)! : b[i]!]);
  for (const [x, y] of pairs) {
    if (x.data.length !== y.data.length || x.shape.join('x') !== y.shape.join('x')) {
      return `output "${x.name}" has shape [${x.shape.join(',')}] on the primary and [${y.shape.join(',')}] on the shadow`;
    }
  }
  return pairs;
}

function argmax(pairs: readonly [Tensor, Tensor][], tolerance: number): Verdict {
  let rows = 0;
  let agree = 0;
  for (const [x, y] of pairs) {
    const width = x.shape.length === 0 ? x.data.length : Math.max(1, x.shape[x.shape.length - 1]!);
    for (let start = 0; start + width <= x.data.length; start += width) {
      rows++;
      if (argmaxOf(x.data, start, width) === argmaxOf(y.data, start, width)) agree++;
    }
  }
  if (rows === 0) return verdict(0, tolerance, null);
  const divergence = 1 - agree / rows;
  return verdict(divergence, tolerance, agree === rows ? null : `argmax differs on ${rows - agree} of ${rows} rows`);
}

function argmaxOf(data: readonly number[], start: number, width: number): number {
  let best = start;
  for (let i = start + 1; i < start + width; i++) if (data[i]! > data[best]!) best = i;
  return best - start;
}

function maxAbsDiff(pairs: readonly [Tensor, Tensor][], tolerance: number): Verdict {
  let max = 0;
  for (const [x, y] of pairs) {
    for (let i = 0; i < x.data.length; i++) {
      const d = Math.abs(x.data[i]! - y.data[i]!);
      // NaN on one side only is as different as it gets.
      if (Number.isNaN(d)) { if (Number.isNaN(x.data[i]!) !== Number.isNaN(y.data[i]!)) max = Infinity; }
      else if (d > max) max = d;
    }
  }
  if (max === Infinity) return { result: 'mismatch', divergence: null, detail: 'NaN on one side only' };
  return verdict(max, tolerance, max <= tolerance ? null : `max |a-b| = ${max}`);
}

/** Embedding vectors: OpenAI `data[].embedding` in `index` order, or each row of KServe outputs. */
function vectors(doc: unknown): number[][] | null {
  const data = (doc as { data?: unknown } | null)?.data;
  if (Array.isArray(data) && data.length > 0) {
    const items = (data as unknown[]).map((d, i) => {
      const e = d as { embedding?: unknown; index?: unknown } | null;
      return { index: typeof e?.index === 'number' ? e.index : i, v: Array.isArray(e?.embedding) ? flatten(e.embedding) : null };
    });
    if (items.some((x) => x.v === null)) return null;
    return items.sort((x, y) => x.index - y.index).map((x) => x.v!);
  }
  const ts = tensors(doc);
  if (ts === null) return null;
  const out: number[][] = [];
  for (const t of ts) {
    const width = t.shape.length === 0 ? t.data.length : Math.max(1, t.shape[t.shape.length - 1]!);
    for (let start = 0; start + width <= t.data.length; start += width) out.push(t.data.slice(start, start + width));
  }
  return out.length > 0 ? out : null;
}

function cosine(a: readonly number[][], b: readonly number[][], tolerance: number): Verdict {
  if (a.length !== b.length) return { result: 'mismatch', divergence: null, detail: `${a.length} embeddings on the primary, ${b.length} on the shadow` };
  let worst = 1;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.length !== y.length) return { result: 'mismatch', divergence: null, detail: `embedding ${i} has ${x.length} dimensions on the primary, ${y.length} on the shadow` };
    let dot = 0;
    let nx = 0;
    let ny = 0;
    for (let k = 0; k < x.length; k++) {
      dot += x[k]! * y[k]!;
      nx += x[k]! * x[k]!;
      ny += y[k]! * y[k]!;
    }
    // Two zero vectors are the same; one zero vector is orthogonal to anything.
    const sim = nx === 0 && ny === 0 ? 1 : nx === 0 || ny === 0 ? 0 : dot / Math.sqrt(nx * ny);
    if (sim < worst) worst = sim;
  }
  const divergence = Math.max(0, 1 - worst);
  return verdict(divergence, tolerance, divergence <= tolerance ? null : `lowest cosine similarity ${worst}`);
}
