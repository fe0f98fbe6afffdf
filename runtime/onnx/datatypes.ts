// Tensor element types the worker accepts: the ONNX Runtime name, the KServe v2 name
// (Open Inference Protocol "Tensor Data Types"), and how a JSON element is checked and stored.

export type TypedArray =
  | Float32Array | Float64Array
  | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array;

export type OrtTensorType =
  | 'float32' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32'
  | 'int64' | 'uint64' | 'bool';

/** How JSON elements are checked: finite numbers, integers in [min, max], or booleans. */
export type ElementKind = 'float' | 'int' | 'bigint' | 'bool';

export interface DataType {
  readonly ort: OrtTensorType;
  readonly kserve: string;
  readonly kind: ElementKind;
  readonly min: number;
  readonly max: number;
  readonly alloc: (length: number) => TypedArray;
}

const f = (ort: OrtTensorType, kserve: string, alloc: (n: number) => TypedArray): DataType =>
  ({ ort, kserve, kind: 'float', min: -Infinity, max: Infinity, alloc });
const i = (ort: OrtTensorType, kserve: string, kind: ElementKind, min: number, max: number, alloc: (n: number) => TypedArray): DataType =>
  ({ ort, kserve, kind, min, max, alloc });

// 64-bit integers travel as JSON numbers, so only the exactly representable range is accepted.
const TYPES: readonly DataType[] = [
  f('float32', 'FP32', (n) => new Float32Array(n)),
  f('float64', 'FP64', (n) => new Float64Array(n)),
  i('int8', 'INT8', 'int', -128, 127, (n) => new Int8Array(n)),
  i('uint8', 'UINT8', 'int', 0, 255, (n) => new Uint8Array(n)),
  i('int16', 'INT16', 'int', -32768, 32767, (n) => new Int16Array(n)),
  i('uint16', 'UINT16', 'int', 0, 65535, (n) => new Uint16Array(n)),
  i('int32', 'INT32', 'int', -2147483648, 2147483647, (n) => new Int32Array(n)),
  i('uint32', 'UINT32', 'int', 0, 4294967295, (n) => new Uint32Array(n)),
  i('int64', 'INT64', 'bigint', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, (n) => new BigInt64Array(n)),
  i('uint64', 'UINT64', 'bigint', 0, Number.MAX_SAFE_INTEGER, (n) => new BigUint64Array(n)),
  // onnxruntime-node carries bool tensors as Uint8Array.
  i('bool', 'BOOL', 'bool', 0, 1, (n) => new Uint8Array(n)),
];

const BY_ORT = new Map(TYPES.map((t) => [t.ort, t]));
const BY_KSERVE = new Map(TYPES.map((t) => [t.kserve, t]));

export const KSERVE_DATATYPES: readonly string[] = [...BY_KSERVE.keys(), 'FP16', 'BF16', 'BYTES'];

export function dataTypeFromOrt(type: string): DataType | undefined {
  return BY_ORT.get(type as OrtTensorType);
}

export function dataTypeFromKserve(name: string): DataType | undefined {
  return BY_KSERVE.get(name);
}

export function supportedOrtTypes(): string {
  return TYPES.map((t) => t.ort).join(', ');
}
