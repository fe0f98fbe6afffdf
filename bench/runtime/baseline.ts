// The figures every scenario compares against, measured in the same run: `session.run`
// in-process (inprocess.ts, as a child pinned where the workers run) and the generated
// memory-bound model of the batching scenario (wide_mlp.py).
import { join } from 'node:path';
import type { BenchContext } from './bench.ts';
import type { BatchTiming, InProcessResult } from './inprocess.ts';
import { REPO_ROOT } from './outrider.ts';

const INPROCESS = join(REPO_ROOT, 'bench', 'runtime', 'inprocess.ts');
const WIDE_MLP = join(REPO_ROOT, 'bench', 'runtime', 'wide_mlp.py');
// scripts/gen_models.py's interpreter: Debian's, which has onnx and numpy.
const PYTHON = '/usr/bin/python3';

export interface InProcessRequest {
  readonly model: string;
  readonly batches: readonly number[];
  readonly iterations: number;
  readonly warmup: number;
}

export async function inProcess(ctx: BenchContext, r: InProcessRequest): Promise<InProcessResult> {
  const args = [INPROCESS, '--model', r.model, '--threads', '1', '--batches', r.batches.join(','), '--iterations', String(r.iterations), '--warmup', String(r.warmup)];
  const { stdout } = await ctx.processes.run('in-process session.run', process.execPath, args, { cpu: ctx.placement.proxyCpu, cwd: REPO_ROOT }, 300_000);
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as InProcessResult;
}

export function timingAt(r: InProcessResult, batch: number): BatchTiming {
  const t = r.timings.find((x) => x.batch === batch);
  if (t === undefined) throw new Error(`no in-process timing at batch ${batch} for ${r.model}`);
  return t;
}

export interface GeneratedModel {
  readonly file: string;
  readonly weights: number;
  readonly weightBytes: number;
  readonly hidden: readonly number[];
}

/** Writes the wide MLP into the bench's temp dir (removed at the end: nothing generated is kept). */
export async function generateWideModel(ctx: BenchContext, hidden: readonly number[]): Promise<GeneratedModel> {
  const file = join(ctx.tmp, `wide-${hidden.join('x')}.gen.onnx`);
  const { stdout } = await ctx.processes.run('wide_mlp.py', PYTHON, [WIDE_MLP, '--out', file, '--hidden', hidden.join(',')], { cpu: null, cwd: REPO_ROOT }, 300_000);
  const out = JSON.parse(stdout.trim().split('\n').pop() ?? '') as { weights: number; weightBytes: number };
  return { file, weights: out.weights, weightBytes: out.weightBytes, hidden };
}
