// The config pipeline (SPEC §2): YAML text -> parse (positions kept) -> ${VAR} substitution
// -> feature gate -> JSON Schema (defaults filled) -> cross-references and normalisation ->
// deep-freeze. Every error of every stage is collected; nothing stops at the first one.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config, ConfigError, LoadResult } from './types.ts';
import { substituteEnv } from './env.ts';
import { GATED } from './features.ts';
import type { Gate } from './features.ts';
import { checkGates } from './gate.ts';
import { normalise } from './normalise.ts';
import { Report } from './report.ts';
import { validateSchema } from './schema.ts';
import { Source } from './source.ts';

/**
 * Loads and checks a config file. `file` may be relative to the working directory; errors
 * name it as given, the Config holds it absolute.
 */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
    return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: `cannot read the config file: ${why}` }] };
  }
  return loadConfigText(text, file, env);
}

export interface LoadOptions {
  /** Keys refused as not available yet; default the list in features.ts. */
  readonly gates?: readonly Gate[];
}

/**
 * Checks config text as if read from `file`: relative paths in it resolve against the
 * directory of `file`, and files it names are checked and read (hence async).
 */
export async function loadConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): Promise<LoadResult> {
  const source = new Source(text);
  const report = new Report(file, source);
  for (const e of source.syntaxErrors()) report.addAt('syntax', e.position, '', e.message);
  if (report.size > 0) return { ok: false, errors: report.errors() };

  substituteEnv(source.doc.contents, env, report);
  let data: unknown;
  try {
    data = source.doc.toJS();
  } catch (e) {
    // yaml refuses documents whose aliases expand without bound ("billion laughs").
    report.addAt('syntax', { line: 1, col: 1 }, '', (e as Error).message);
    return { ok: false, errors: report.errors() };
  }
  if (data === null || data === undefined) {
    report.addAt('schema', { line: 1, col: 1 }, '', 'the file is empty: it needs at least `version: 1`');
    return { ok: false, errors: report.errors() };
  }

  checkGates(data, report, options.gates ?? GATED);
  validateSchema(data, report);
  const config = await normalise(data, resolve(file), report);
  if (report.size > 0) return { ok: false, errors: report.errors() };
  return { ok: true, config: deepFreeze(config) };
}

/** `FILE:LINE:COL: path: message`, the form of `outrider validate`; a file-level error has no path part. */
export function formatConfigError(e: ConfigError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.path === '' ? '' : `${e.path}: `}${e.message}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
