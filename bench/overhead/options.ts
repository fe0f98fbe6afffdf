// Command-line options of `npm run bench -- ...`.
import { parseArgs } from 'node:util';

export const TARGET_NAMES = ['direct', 'nginx', 'undici-bare', 'http-proxy', 'outrider'] as const;
export type TargetName = typeof TARGET_NAMES[number];

export interface Options {
  readonly rounds: number;
  readonly duration: number;         // seconds measured per load A and load B run
  readonly warmup: number;           // seconds before each, not measured
  readonly connections: number;      // load A
  readonly rate: number;             // load B, requests per second
  readonly only: readonly TargetName[];
  readonly memoryRequests: number;   // 0 skips the memory phase
  readonly profile: boolean;
  readonly loadgen: 'wrk' | 'autocannon' | null;   // null: wrk when installed
}

export const USAGE = `usage: npm run bench -- [options]
  --rounds N            interleaved rounds, median per target (default 5)
  --duration S          measured seconds of each load A and load B run (default 5)
  --warmup S            unmeasured seconds before each run (default 1)
  --connections N       load A (closed loop) connections (default 16)
  --rate R              load B (open loop) requests per second (default 2000)
  --only a,b            targets among ${TARGET_NAMES.join(', ')} (default all)
  --memory-requests N   requests of the Outrider memory phase, 0 to skip (default 100000)
  --profile             also run Outrider under --cpu-prof for one load A run and summarise it
  --loadgen wrk|autocannon   load A generator (default wrk when /usr/bin/wrk is installed)`;

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
        rounds: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
        rate: { type: 'string' },
        only: { type: 'string' },
        'memory-requests': { type: 'string' },
        profile: { type: 'boolean' },
        loadgen: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help === true) return 'help';
  const memoryRequests = integer('memory-requests', values['memory-requests'], 100_000, 0);
  if (memoryRequests > 0 && memoryRequests < 20_000) throw new UsageError('--memory-requests must be 0 (skip) or at least 20000: the first 10000 are the warm-up');
  return {
    rounds: integer('rounds', values.rounds, 5, 1),
    // wrk takes whole seconds.
    duration: integer('duration', values.duration, 5, 1),
    warmup: integer('warmup', values.warmup, 1, 0),
    connections: integer('connections', values.connections, 16, 1),
    rate: integer('rate', values.rate, 2_000, 1),
    only: targets(values.only),
    memoryRequests,
    profile: values.profile === true,
    loadgen: loadgen(values.loadgen),
  };
}

function integer(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number >= ${min}, got "${raw}"`);
  return n;
}

function targets(raw: string | undefined): readonly TargetName[] {
  if (raw === undefined) return TARGET_NAMES;
  const wanted = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const w of wanted) {
    if (!(TARGET_NAMES as readonly string[]).includes(w)) throw new UsageError(`--only: unknown target "${w}" (known: ${TARGET_NAMES.join(', ')})`);
  }
  if (wanted.length === 0) throw new UsageError('--only needs at least one target');
  // Keep the canonical order so rounds interleave the same way whatever the flag's order.
  return TARGET_NAMES.filter((t) => wanted.includes(t));
}

function loadgen(raw: string | undefined): Options['loadgen'] {
  if (raw === undefined) return null;
  if (raw === 'wrk' || raw === 'autocannon') return raw;
  throw new UsageError(`--loadgen must be wrk or autocannon, got "${raw}"`);
}
