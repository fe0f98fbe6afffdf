// runtimes[]: onnx workers and supervised processes. Paths are resolved against the config
// file's directory; files named here are checked (and warm-up bodies read) at load time.

import { resolve } from 'node:path';
import type { BatchingConfig, OnnxRuntimeConfig, ProcessRuntimeConfig, RestartConfig, RuntimeConfig, WarmupRequest } from './types.ts';
import { checkDirectory, checkFile, readText } from './files.ts';
import type { Field } from './field.ts';
import { lowerKeys } from './headers.ts';

// Without a `batching` key every request runs alone, as soon as it arrives.
const NO_BATCHING: BatchingConfig = { maxBatchSize: 1, maxQueueDelay: 0, maxQueue: 512 };
// Process warm-up repeats its request list this often unless told otherwise.
const PROCESS_WARMUP_ITERATIONS = 5;

export async function normaliseRuntime(f: Field, dir: string): Promise<RuntimeConfig | null> {
  switch (f.get('kind').value) {
    case 'onnx': return onnx(f, dir);
    case 'process': return processRuntime(f, dir);
    default: return null;   // the schema has reported the kind
  }
}

async function onnx(f: Field, dir: string): Promise<OnnxRuntimeConfig> {
  const modelField = f.get('model');
  const model = resolve(dir, modelField.string());
  if (modelField.present) await checkFile(modelField, model, 'model file');

  const [device, cudaDevice] = parseDevice(f.get('device').string('cpu'));
  const batching = f.get('batching');
  const warmup = f.get('warmup');
  const sampleField = warmup.get('sample');
  const sample = sampleField.optional((s) => resolve(dir, s.string()));
  if (sample !== null) {
    const text = await readText(sampleField, sample, 'warm-up sample');
    if (text !== null) {
      try {
        JSON.parse(text);
      } catch (e) {
        sampleField.fail(`warm-up sample ${sample} is not valid JSON: ${(e as Error).message}`);
      }
    }
  }

  return {
    kind: 'onnx',
    name: f.get('name').string(),
    model,
    version: String(f.get('version').value ?? ''),
    replicas: f.get('replicas').number(),
    device,
    cudaDevice,
    devices: devices(f.get('devices')),
    cpuFallback: f.get('cpuFallback').boolean(),
    threads: f.get('threads').number(),
    inference: f.get('inference').string() as OnnxRuntimeConfig['inference'],
    batching: batching.present
      ? {
          maxBatchSize: batching.get('maxBatchSize').number(),
          maxQueueDelay: batching.get('maxQueueDelay').duration(),
          maxQueue: batching.get('maxQueue').number(),
        }
      : NO_BATCHING,
    warmup: { iterations: warmup.get('iterations').number(), sample },
    restart: restart(f.get('restart')),
    stopGrace: f.get('stopGrace').duration(),
    tokenizer: 'builtin',
  };
}

async function processRuntime(f: Field, dir: string): Promise<ProcessRuntimeConfig> {
  const command = f.get('command').list();
  const program = command[0];
  if (program !== undefined && program.string('x') === '') program.fail('expected the program to run, got an empty string');

  const cwdField = f.get('cwd');
  const cwd = resolve(dir, cwdField.string('.'));
  if (cwdField.present) await checkDirectory(cwdField, cwd, 'working directory');

  const health = f.get('health');
  const warmup = f.get('warmup');
  const requests: WarmupRequest[] = [];
  for (const r of warmup.get('requests').list()) requests.push(await warmupRequest(r, dir));
  const iterations = warmup.get('iterations');

  return {
    kind: 'process',
    name: f.get('name').string(),
    command: command.map((c) => c.string()),
    cwd,
    env: Object.fromEntries(f.get('env').entries().map(([k, v]) => [k, String(v.value)])),
    version: String(f.get('version').value ?? ''),
    replicas: f.get('replicas').number(),
    devices: devices(f.get('devices')),
    health: {
      path: health.get('path').string(),
      interval: health.get('interval').duration(),
      timeout: health.get('timeout').duration(),
      startupTimeout: health.get('startupTimeout').duration(),
      failureThreshold: health.get('failureThreshold').number(),
    },
    warmup: {
      iterations: iterations.present ? iterations.number() : requests.length > 0 ? PROCESS_WARMUP_ITERATIONS : 0,
      requests,
    },
    restart: restart(f.get('restart')),
    stopGrace: f.get('stopGrace').duration(),
  };
}

async function warmupRequest(f: Field, dir: string): Promise<WarmupRequest> {
  const inline = f.get('body');
  const fileField = f.get('bodyFile');
  let body = inline.optional((b) => b.string());
  if (fileField.present) {
    if (inline.present) fileField.fail('give either `body` or `bodyFile`, not both');
    body = await readText(fileField, resolve(dir, fileField.string()), 'warm-up body file');
  }
  const method = f.get('method');
  return {
    method: method.present ? method.string().toUpperCase() : inline.present || fileField.present ? 'POST' : 'GET',
    path: f.get('path').string(),
    headers: lowerKeys(f.get('headers')),
    body,
  };
}

function restart(f: Field): RestartConfig {
  const minBackoff = f.get('minBackoff').duration();
  const max = f.get('maxBackoff');
  const maxBackoff = max.duration();
  if (maxBackoff < minBackoff) max.fail(`maxBackoff (${max.string()}) is shorter than minBackoff (${f.get('minBackoff').string()})`);
  return { minBackoff, maxBackoff, standby: f.get('standby').number(), bootAhead: f.get('bootAhead').boolean(true) };
}

function parseDevice(text: string): ['cpu' | 'cuda', number | null] {
  if (text.startsWith('cuda:')) return ['cuda', Number(text.slice(5))];
  return [text === 'cuda' ? 'cuda' : 'cpu', null];
}

function devices(f: Field): string[] {
  return f.list().map((d) => String(d.value));
}
