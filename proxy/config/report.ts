// Collects every error of one load, each pointing at a node of the file. Errors come from
// stages that run in order; a later stage stays silent about a place an earlier stage
// already blamed (a missing variable is not also reported as a bad duration, a gated
// feature's inner keys are not checked), so each mistake is reported once.

import type { ConfigError } from './types.ts';
import { formatPath } from './source.ts';
import type { Path, Position, Source } from './source.ts';

export type Stage = 'syntax' | 'env' | 'gate' | 'schema' | 'semantic';
const ORDER: readonly Stage[] = ['syntax', 'env', 'gate', 'schema', 'semantic'];

interface Entry {
  readonly stage: Stage;
  readonly error: ConfigError;
}

export class Report {
  readonly file: string;
  readonly source: Source | undefined;
  readonly #entries: Entry[] = [];

  constructor(file: string, source?: Source) {
    this.file = file;
    this.source = source;
  }

  /** An error at the value (or, with `where: 'key'`, at the key) found at `path`. */
  add(stage: Stage, path: Path, message: string, where: 'key' | 'value' = 'value'): void {
    this.addAt(stage, this.source?.position(path, where) ?? { line: 1, col: 1 }, formatPath(path), message);
  }

  addAt(stage: Stage, position: Position, path: string, message: string): void {
    this.#entries.push({ stage, error: { file: this.file, line: position.line, col: position.col, path, message } });
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The errors to show, in file order. */
  errors(): ConfigError[] {
    const kept = this.#entries.filter((e) => !this.#entries.some((earlier) => blames(earlier, e)));
    // A value that fails several branches of the schema the same way is reported once.
    const unique = new Map(kept.map((e) => [`${e.error.line}:${e.error.col}:${e.error.path}:${e.error.message}`, e.error]));
    return [...unique.values()].sort((a, b) => a.line - b.line || a.col - b.col);
  }
}

function blames(earlier: Entry, later: Entry): boolean {
  if (ORDER.indexOf(earlier.stage) >= ORDER.indexOf(later.stage)) return false;
  const p = earlier.error.path;
  const q = later.error.path;
  return p === '' || q === p || q.startsWith(`${p}.`) || q.startsWith(`${p}[`);
}
