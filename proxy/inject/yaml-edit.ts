// Applies a JSON Patch (RFC 6902) to one YAML document of a file, keeping everything the patch
// does not touch as it was written: comments, quoting, key order, flow or block style.
//
// A JSON document (kubectl accepts those too) is written back as JSON, indented as it was.
// A YAML document goes through three tiers, each checked by re-parsing its output against the
// expected data:
//   1. text insertion: new keys and list items are spliced into the source text after the
//      last entry of their block map or list, at its indentation (every other byte kept);
//   2. the yaml package's Document API (comments and scalar styles kept, layout normalised);
//   3. the expected data written out afresh (comments inside the document lost).
import { isDeepStrictEqual } from 'node:util';
import { Document, isMap, isScalar, isSeq, parseAllDocuments, stringify, visit } from 'yaml';
import type { Node, ParsedNode, Range, ToStringOptions } from 'yaml';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

export interface DocumentSpan {
  readonly doc: Document.Parsed;
  /** Offsets in the whole file of this document's text (leading comments and `---` included). */
  readonly start: number;
  readonly end: number;
}

/** The document's new text, to replace src.slice(span.start, span.end). */
export function patchDocumentText(src: string, span: DocumentSpan, ops: readonly Operation[], expected: unknown): string {
  const json = rewriteJson(src, span, expected);
  if (json !== null && parsesTo(json, expected)) return json;
  const style = detectStyle(src, span.doc);
  const inserted = insertText(src, span, ops, style);
  if (inserted !== null && parsesTo(inserted, expected)) return inserted;
  const viaDocument = rewriteContents(src, span, documentPatched(span.doc, ops), style);
  if (viaDocument !== null && parsesTo(viaDocument, expected)) return viaDocument;
  const fresh = rewriteContents(src, span, new Document(expected).contents as ParsedNode, style);
  if (fresh === null || !parsesTo(fresh, expected)) throw new Error('could not write the injected document back as YAML');
  return fresh;
}

function rewriteJson(src: string, span: DocumentSpan, expected: unknown): string | null {
  const contents = span.doc.contents;
  if (!isMap(contents) || !contents.flow || contents.range == null || src[contents.range[0]] !== '{') return null;
  const firstKey = (contents.items[0]?.key ?? null) as Node | null;
  const multiline = src.slice(contents.range[0], contents.range[1]).includes('\n');
  const indent = multiline && firstKey?.range != null ? Math.max(1, column(src, firstKey.range[0]) - column(src, contents.range[0])) : 0;
  return src.slice(span.start, contents.range[0]) + JSON.stringify(expected, null, indent) + src.slice(contents.range[1], span.end);
}

interface Style { readonly indent: number; readonly indentSeq: boolean; readonly flowCollectionPadding: boolean }

/** The indentation habits of the document, so new text looks like the old (kubectl writes `- ` flush with its key). */
function detectStyle(src: string, doc: Document.Parsed): Style {
  let indent: number | undefined;
  let indentSeq: boolean | undefined;
  let flowCollectionPadding: boolean | undefined;
  visit(doc, {
    Pair(_, pair) {
      const key = pair.key as Node | null;
      const value = pair.value as Node | null;
      if (!isScalar(key) || key.range == null || value === null || value.range == null) return;
      const keyCol = column(src, key.range[0]);
      if (isMap(value) && !value.flow && indent === undefined) indent = column(src, value.range[0]) - keyCol;
      if (isSeq(value) && !value.flow && indentSeq === undefined) indentSeq = column(src, value.range[0]) > keyCol;
    },
    Collection(_, node) {
      if (node.flow && node.range != null && node.items.length > 0 && flowCollectionPadding === undefined) flowCollectionPadding = src[node.range[0] + 1] === ' ';
    },
  });
  return { indent: indent !== undefined && indent > 0 ? indent : 2, indentSeq: indentSeq ?? true, flowCollectionPadding: flowCollectionPadding ?? true };
}

function toStringOptions(style: Style): ToStringOptions {
  // lineWidth 0: never fold long strings (command lines, JSON in annotations) onto new lines.
  return { indent: style.indent, indentSeq: style.indentSeq, flowCollectionPadding: style.flowCollectionPadding, lineWidth: 0 };
}

interface Edit { readonly at: number; readonly end: number; readonly text: string; readonly depth: number }

function insertText(src: string, span: DocumentSpan, ops: readonly Operation[], style: Style): string | null {
  const mapAdds = new Map<Node, { depth: number; entries: [string, unknown][] }>();
  const seqAdds = new Map<Node, { depth: number; items: unknown[] }>();
  const edits: Edit[] = [];
  for (const op of ops) {
    const path = parsePointer(op.path);
    const last = path.at(-1);
    const parent = nodeAt(span.doc, path.slice(0, -1));
    if (op.op === 'add' && last !== undefined) {
      if (isMap(parent) && !parent.flow && parent.items.length > 0 && !parent.has(last)) {
        const group = mapAdds.get(parent) ?? { depth: path.length, entries: [] };
        group.entries.push([last, op.value]);
        mapAdds.set(parent, group);
        continue;
      }
      if (isSeq(parent) && !parent.flow && parent.items.length > 0) {
        const group = seqAdds.get(parent) ?? { depth: path.length, items: [] };
        if (last !== String(parent.items.length + group.items.length)) return null;
        group.items.push(op.value);
        seqAdds.set(parent, group);
        continue;
      }
      return null;
    }
    if (op.op === 'replace') {
      const target = nodeAt(span.doc, path);
      const value: unknown = op.value;
      if (!isScalar(target) || target.range == null || (typeof value !== 'number' && typeof value !== 'boolean')) return null;
      edits.push({ at: target.range[0], end: target.range[1], text: String(value), depth: path.length });
      continue;
    }
    return null;
  }
  const opts = toStringOptions(style);
  const eol = src.slice(span.start, span.end).includes('\r\n') ? '\r\n' : '\n';
  for (const [node, { depth, entries }] of mapAdds) {
    const first = (node as unknown as { items: { key: Node }[] }).items[0]!.key;
    edits.push(insertion(src, node.range!, column(src, first.range![0]), stringify(Object.fromEntries(entries), opts), depth, eol));
  }
  for (const [node, { depth, items }] of seqAdds) {
    edits.push(insertion(src, node.range!, column(src, node.range![0]), stringify(items, opts), depth, eol));
  }
  // Later offsets first so earlier ones stay valid. At one offset the deeper edit is applied
  // last, which puts it first in the text: a list's new item comes before its parent's new key.
  edits.sort((a, b) => b.at - a.at || a.depth - b.depth);
  let text = src.slice(span.start, span.end);
  for (const e of edits) {
    if (e.at < span.start || e.end > span.end) return null;
    text = text.slice(0, e.at - span.start) + e.text + text.slice(e.end - span.start);
  }
  return text;
}

/** New lines after the last line of a block collection, at its column, with the file's line ends. */
function insertion(src: string, range: Range, col: number, yaml: string, depth: number, eol: string): Edit {
  const lines = yaml.replace(/\n$/, '').split('\n').map((l) => (l === '' ? l : ' '.repeat(col) + l)).join(eol);
  const valueEnd = range[1];
  if (src[valueEnd - 1] === '\n') return { at: valueEnd, end: valueEnd, text: `${lines}${eol}`, depth };
  // The collection's last line may carry a comment after its value: insert after that comment.
  const next = src.indexOf('\n', valueEnd);
  const at = next === -1 ? src.length : src[next - 1] === '\r' ? next - 1 : next;
  return { at, end: at, text: `${eol}${lines}`, depth };
}

function documentPatched(doc: Document.Parsed, ops: readonly Operation[]): ParsedNode | null {
  const copy = doc.clone();
  for (const op of ops) {
    const path = parsePointer(op.path);
    const parent = copy.getIn(path.slice(0, -1), true);
    const last = path.at(-1);
    if (last === undefined) return null;
    if (op.op === 'add' && isSeq(parent)) parent.items.splice(Number(last), 0, copy.createNode(op.value));
    else if (op.op === 'add' || op.op === 'replace') copy.setIn(path, copy.createNode(op.value));
    else if (op.op === 'remove') copy.deleteIn(path);
    else return null;
  }
  return copy.contents;
}

/** Rewrites only the document's top node, so the comments and `---` before it stay as written. */
function rewriteContents(src: string, span: DocumentSpan, contents: ParsedNode | Node | null, style: Style): string | null {
  const range = span.doc.contents?.range;
  if (contents === null || range == null) return null;
  const holder = new Document();
  holder.contents = contents;
  // The comment before the top node lies before range[0] and is kept from the source.
  const before = contents.commentBefore;
  contents.commentBefore = null;
  const body = holder.toString(toStringOptions(style));
  contents.commentBefore = before;
  return src.slice(span.start, range[0]) + body + src.slice(range[2], span.end);
}

function parsesTo(text: string, expected: unknown): boolean {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs) || docs.length !== 1 || docs[0]!.errors.length > 0) return false;
  return isDeepStrictEqual(docs[0]!.toJS(), expected);
}

function nodeAt(doc: Document.Parsed, path: readonly string[]): unknown {
  let node: unknown = doc.contents;
  for (const key of path) {
    if (isMap(node)) node = node.get(key, true);
    else if (isSeq(node)) node = node.items[Number(key)];
    else return undefined;
  }
  return node;
}

function parsePointer(pointer: string): string[] {
  return pointer.split('/').slice(1).map((s) => jsonpatch.unescapePathComponent(s));
}

function column(src: string, offset: number): number {
  return offset - (src.lastIndexOf('\n', offset - 1) + 1);
}
