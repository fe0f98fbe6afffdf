// Durations and sizes as written in outrider.yaml (SPEC §2): durations are strings such as
// "250ms" or "1.5s"; sizes are strings such as "512KiB" or non-negative byte counts.

import type { Bytes, Ms } from './types.ts';

const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/;
const MS_PER: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const DURATION_HINT = 'expected a duration such as "250ms" or "2s"';

// KB/MB are SI (powers of 1000), KiB/MiB are IEC (powers of 1024), as the names say.
const SIZE = /^([0-9]+(?:\.[0-9]+)?)(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/;
const BYTES_PER: Readonly<Record<string, number>> = {
  B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12,
  KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40,
};
const SIZE_HINT = 'expected a size such as "512KiB", "64MiB" or a byte count';

/** Parses "250ms", "2s", "1.5s", "5m", "24h" into milliseconds. Throws a RangeError with a readable message. */
export function parseDuration(input: unknown): Ms {
  if (typeof input !== 'string') throw new RangeError(`${DURATION_HINT}, got ${describe(input)}`);
  const m = DURATION.exec(input);
  if (m === null) throw new RangeError(`${DURATION_HINT}, got ${JSON.stringify(input)}`);
  const ms = Number(m[1]) * MS_PER[m[2]!]!;
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) throw new RangeError(`duration ${JSON.stringify(input)} is too large`);
  return ms;
}

/** Parses "512KiB", "64MiB", "16KB" (16000) or a byte count into whole bytes. Throws a RangeError with a readable message. */
export function parseSize(input: unknown): Bytes {
  if (typeof input === 'number') {
    if (Number.isSafeInteger(input) && input >= 0) return input;
    throw new RangeError(`${SIZE_HINT}, got ${input}`);
  }
  if (typeof input !== 'string') throw new RangeError(`${SIZE_HINT}, got ${describe(input)}`);
  const m = SIZE.exec(input);
  if (m === null) throw new RangeError(`${SIZE_HINT}, got ${JSON.stringify(input)}`);
  const bytes = Math.floor(Number(m[1]) * BYTES_PER[m[2] ?? 'B']!);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`size ${JSON.stringify(input)} is too large`);
  return bytes;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
