// Command-line options of a bench script: parsed strictly, `--help` prints the usage, and a
// misspelt or malformed option ends the script with its message and the usage (exit 2), not
// with a stack trace.
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export function benchArgs<const O extends Options>(options: O, usage: string) {
  const config = { args: process.argv.slice(2), options: { ...options, help: { type: 'boolean' as const } }, strict: true as const, allowPositionals: false as const };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return parsed.values;
}

/** A whole number of at least `min` from option `name`, or the script ends with the usage. */
export function countArg(name: string, value: string | undefined, fallback: number, min: number, usage: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name}: expected a whole number of at least ${min}, got "${value}"\n${usage}\n`);
    process.exit(2);
  }
  return n;
}
