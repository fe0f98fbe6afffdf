// Header maps in the config: names are case-insensitive (RFC 9110 §5.1), so they are stored
// lower-cased, the form node:http gives incoming headers in.

import type { Field } from './field.ts';

export function lowerKeys(f: Field): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of lowerEntries(f)) out[name] = value.string();
  return out;
}

/** Entries with lower-cased names; a name given twice in different cases is reported. */
export function lowerEntries(f: Field): [string, Field][] {
  const seen = new Set<string>();
  const out: [string, Field][] = [];
  for (const [name, value] of f.entries()) {
    const lower = name.toLowerCase();
    if (seen.has(lower)) value.fail(`header \`${lower}\` is given twice (header names are case-insensitive)`, 'key');
    seen.add(lower);
    out.push([lower, value]);
  }
  return out;
}
