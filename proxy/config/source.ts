// The YAML side of the pipeline: the parsed document with its line counter, and the way
// back from a path in the data (routes[0].backends[1].to) to a line and column in the file.

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';

export type Segment = string | number;
export type Path = readonly Segment[];

export interface Position {
  readonly line: number;
  readonly col: number;
}

/** `routes[0].backends[1].to`; keys that are not plain words are quoted: `env["A B"]`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export class Source {
  readonly doc: Document;
  readonly #lines = new LineCounter();
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
    // Merge keys (`<<: *base`) are on, as in docker-compose files, to share runtime settings.
    this.doc = parseDocument(text, { lineCounter: this.#lines, prettyErrors: true, uniqueKeys: true, merge: true });
  }

  /**
   * YAML syntax errors with their positions. One broken line tends to make the parser
   * stumble over the rest of the file, so only the first error of each line is kept. The
   * message loses yaml's " at line L, column C" tail: the position carries it.
   */
  syntaxErrors(): { position: Position; message: string }[] {
    const out: { position: Position; message: string }[] = [];
    const lines = new Set<number>();
    for (const e of this.doc.errors) {
      const position = this.#at(e.pos[0]);
      if (lines.has(position.line)) continue;
      lines.add(position.line);
      let message = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
      // `{` is a flow indicator: an unquoted ${VAR} inside [ ] or { } breaks the line.
      if (/\$\{/.test(this.#lineText(position.line)) && /flow|Unexpected/.test(message)) message += ' (inside [ ] or { }, quote a ${VAR} value: "${VAR}")';
      out.push({ position, message });
    }
    return out;
  }

  #lineText(line: number): string {
    const starts = this.#lines.lineStarts;
    return this.#text.slice(starts[line - 1] ?? 0, starts[line] ?? this.#text.length);
  }

  /**
   * Where `path` is written: `value` gives the start of the value node, `key` the start of the
   * key that holds it (used for unknown keys). A path that runs past what the file holds (a
   * missing key, a default) resolves to the deepest node that exists.
   */
  position(path: Path, where: 'key' | 'value' = 'value'): Position {
    let node: unknown = this.doc.contents;
    let valueAt = rangeStart(node) ?? 0;
    let keyAt = valueAt;
    for (const seg of path) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (pair === undefined) break;
        keyAt = rangeStart(pair.key) ?? keyAt;
        node = pair.value;
        valueAt = rangeStart(node) ?? keyAt;
      } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
        node = node.items[seg];
        valueAt = keyAt = rangeStart(node) ?? keyAt;
      } else {
        break;
      }
    }
    return this.#at(where === 'key' ? keyAt : valueAt);
  }

  #at(offset: number): Position {
    const { line, col } = this.#lines.linePos(offset);
    return { line, col };
  }
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: readonly number[] | null } | null)?.range;
  return range?.[0];
}
