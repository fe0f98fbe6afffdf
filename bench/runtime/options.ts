// Command-line options of `npm run bench:runtime -- ...`.
import { parseArgs } from 'node:util';

export const SCENARIO_NAMES = ['batching', 'overhead', 'warm-start', 'recovery'] as const;
export type ScenarioName = typeof SCENARIO_NAMES[number];

export interface Options {
  readonly only: readonly ScenarioName[];
  readonly quick: boolean;
  /** batching: interleaved rounds of (maxBatchSize 32, maxBatchSize 1); the ratio is the median of the per-round ratios */
  readonly rounds: number;
  /** batching: measured seconds of each closed-loop run (after `warmup` unmeasured seconds) */
  readonly duration: number;
  readonly warmup: number;
  /** batching: concurrent closed-loop clients */
  readonly clients: number;
  /** batching: hidden widths of the generated memory-bound model */
  readonly hidden: readonly number[];
  /** overhead: sequential requests per path and block (blocks interleave the paths) */
  readonly samples: number;
  /** warm-start: fresh Outrider instances */
  readonly repeats: number;
  /** recovery: open-loop requests per second */
  readonly rate: number;
}

const DEFAULT_HIDDEN = [4096, 4096, 4096];

export const USAGE = `usage: npm run bench:runtime -- [options]
  --only a,b        scenarios among ${SCENARIO_NAMES.join(', ')} (default all)
  --quick           a short run: 1 batching round of 3 s, fewer samples, 1 warm-start instance per path
  --rounds N        batching: interleaved rounds of maxBatchSize 32 / 1 (default 2; quick 1)
  --duration S      batching: measured seconds per run (default 8; quick 3)
  --warmup S        batching: unmeasured seconds before each run (default 2; quick 1)
  --clients N       batching: concurrent closed-loop clients (default 64)
  --hidden A,B,..   batching: hidden widths of the generated model (default ${DEFAULT_HIDDEN.join(',')})
  --samples N       overhead: requests per path per block, 5 blocks (default 1000; quick 300)
  --repeats N       warm-start: fresh Outrider instances per path (default 3; quick 1)
  --rate R          recovery: open-loop requests per second (default 200)`;

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseOptions(argv: readonly string[]): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        only: { type: 'string' },
        quick: { type: 'boolean' },
        rounds: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        clients: { type: 'string' },
        hidden: { type: 'string' },
        samples: { type: 'string' },
        repeats: { type: 'string' },
        rate: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help === true) return 'help';
  const quick = values.quick === true;
  return {
    only: scenarios(values.only),
    quick,
    rounds: integer('rounds', values.rounds, quick ? 1 : 2, 1),
    duration: integer('duration', values.duration, quick ? 3 : 8, 1),
    warmup: integer('warmup', values.warmup, quick ? 1 : 2, 0),
    clients: integer('clients', values.clients, 64, 1),
    hidden: hidden(values.hidden),
    samples: integer('samples', values.samples, quick ? 300 : 1000, 10),
    repeats: integer('repeats', values.repeats, quick ? 1 : 3, 1),
    rate: integer('rate', values.rate, 200, 10),
  };
}

function integer(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number >= ${min}, got "${raw}"`);
  return n;
}

function hidden(raw: string | undefined): readonly number[] {
  if (raw === undefined) return DEFAULT_HIDDEN;
  const widths = raw.split(',').map((w) => w.trim());
  if (widths.length === 0 || widths.some((w) => !/^[0-9]+$/.test(w) || Number(w) < 1 || Number(w) > 16_384)) {
    throw new UsageError(`--hidden must be comma-separated widths between 1 and 16384, got "${raw}"`);
  }
  return widths.map(Number);
}

function scenarios(raw: string | undefined): readonly ScenarioName[] {
  if (raw === undefined) return SCENARIO_NAMES;
  const wanted = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const w of wanted) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(w)) throw new UsageError(`--only: unknown scenario "${w}" (known: ${SCENARIO_NAMES.join(', ')})`);
  }
  if (wanted.length === 0) throw new UsageError('--only needs at least one scenario');
  return SCENARIO_NAMES.filter((s) => wanted.includes(s));
}
