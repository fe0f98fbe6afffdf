// ONNX Runtime session options, the same for the inference thread and an inline session.
import type * as ort from 'onnxruntime-node';

export function sessionOptions(device: 'cpu' | 'cuda', deviceId: number, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: device === 'cuda' ? [{ name: 'cuda', deviceId }] : ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  };
}
