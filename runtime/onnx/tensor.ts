// A dense tensor as the worker moves it around: element type, shape, row-major data.
// Batching joins tensors along dim 0 (zero-padding shorter dynamic dims) and splits results back.
import type { DataType, TypedArray } from './datatypes.ts';

export interface Tensor {
  readonly type: DataType;
  readonly dims: readonly number[];
  readonly data: TypedArray;
}

/** The structural subset of every TypedArray the copy helpers need (the union's methods do not unify). */
interface Elements {
  readonly length: number;
  set(source: Elements, offset?: number): void;
  subarray(begin: number, end: number): Elements;
  slice(begin: number, end: number): Elements;
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let d = dims.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= dims[d]!;
  }
  return s;
}

/**
 * Concatenates `parts` along dim 0 into a tensor of `dims` (dims[0] = total rows). A part whose
 * other dims are smaller is copied into the top-left corner of its rows; the rest stays 0,
 * the pad value.
 */
export function concatRows(type: DataType, parts: readonly Tensor[], dims: readonly number[]): Tensor {
  const out = type.alloc(elementCount(dims)) as unknown as Elements;
  const dstStrides = strides(dims);
  let row = 0;
  for (const part of parts) {
    copyInto(part, out, dims, dstStrides, row * dstStrides[0]!);
    row += part.dims[0]!;
  }
  return { type, dims, data: out as unknown as TypedArray };
}

function copyInto(part: Tensor, dst: Elements, dstDims: readonly number[], dstStrides: readonly number[], dstOffset: number): void {
  const src = part.data as unknown as Elements;
  const rank = part.dims.length;
  // Trailing dims that already match can be copied as one contiguous block.
  let contiguousFrom = rank;
  while (contiguousFrom > 1 && part.dims[contiguousFrom - 1] === dstDims[contiguousFrom - 1]) contiguousFrom--;
  if (contiguousFrom <= 1) {
    dst.set(src, dstOffset);
    return;
  }
  const srcStrides = strides(part.dims);
  // Below dim lastLoop the part's rows are laid out as in dst, only shorter: one set() each.
  const lastLoop = contiguousFrom - 1;
  const block = srcStrides[lastLoop]! * part.dims[lastLoop]!;
  const walk = (d: number, srcOff: number, dstOff: number): void => {
    if (d === lastLoop) {
      dst.set(src.subarray(srcOff, srcOff + block), dstOff);
      return;
    }
    for (let k = 0; k < part.dims[d]!; k++) walk(d + 1, srcOff + k * srcStrides[d]!, dstOff + k * dstStrides[d]!);
  };
  walk(0, 0, dstOffset);
}

/** Rows [start, start+rows) of a batch-major tensor, as an independent copy. */
export function sliceRows(t: Tensor, start: number, rows: number): Tensor {
  const inner = t.dims.length === 0 ? 1 : elementCount(t.dims) / t.dims[0]!;
  const data = (t.data as unknown as Elements).slice(start * inner, (start + rows) * inner) as unknown as TypedArray;
  return { type: t.type, dims: [rows, ...t.dims.slice(1)], data };
}

/** Repeats the rows of `t` cyclically to make a tensor of `rows` rows (warmup from a sample). */
export function tileRows(t: Tensor, rows: number): Tensor {
  const have = t.dims[0]!;
  const inner = elementCount(t.dims) / have;
  const out = t.type.alloc(rows * inner) as unknown as Elements;
  const src = t.data as unknown as Elements;
  for (let r = 0; r < rows; r++) {
    const from = (r % have) * inner;
    out.set(src.subarray(from, from + inner), r * inner);
  }
  return { type: t.type, dims: [rows, ...t.dims.slice(1)], data: out as unknown as TypedArray };
}
