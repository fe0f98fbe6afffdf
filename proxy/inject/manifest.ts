// `outrider inject` over a whole file: every document is injected or passed through. Documents
// that do not change are copied byte for byte from the source, so a second pass over the output
// (where every pod is already marked injected) reproduces it exactly.
import { CST, Parser, parseAllDocuments } from 'yaml';
import type { Document } from 'yaml';
import jsonpatch from 'fast-json-patch';
import type { InjectOptions } from './options.ts';
import { describeObject, injectObject } from './workloads.ts';
import { patchDocumentText } from './yaml-edit.ts';
import type { DocumentSpan } from './yaml-edit.ts';

export type ManifestResult =
  | { readonly ok: true; readonly text: string; readonly injected: number; readonly notes: readonly string[] }
  | { readonly ok: false; readonly errors: readonly string[] };

export function injectManifest(src: string, opts: InjectOptions): ManifestResult {
  const docs = parseAllDocuments(src);
  if (!Array.isArray(docs)) return { ok: true, text: src, injected: 0, notes: [] };
  const parseErrors = docs.flatMap((d, i) => d.errors.map((e) => `document ${i + 1}: invalid YAML: ${e.message}`));
  if (parseErrors.length > 0) return { ok: false, errors: parseErrors };
  const spans = documentSpans(src, docs);

  const errors: string[] = [];
  const notes: string[] = [];
  const replacements: { span: DocumentSpan; text: string }[] = [];
  spans.forEach((span, i) => {
    let obj: unknown;
    try {
      obj = span.doc.toJS();
    } catch (e) {
      errors.push(`document ${i + 1}: ${(e as Error).message}`);
      return;
    }
    const label = `document ${i + 1} (${describeObject(obj)})`;
    const r = injectObject(obj, opts);
    if (r.status === 'refused') {
      errors.push(...r.reasons.map((m) => `${label}: cannot inject: ${m}`));
      return;
    }
    notes.push(...r.notes.map((m) => `${label}: ${m}`));
    if (r.status === 'injected') {
      const ops = jsonpatch.compare(obj as object, r.object);
      replacements.push({ span, text: patchDocumentText(src, span, ops, r.object) });
    }
  });
  if (errors.length > 0) return { ok: false, errors };

  let text = src;
  for (const { span, text: t } of replacements.reverse()) text = text.slice(0, span.start) + t + text.slice(span.end);
  return { ok: true, text, injected: replacements.length, notes };
}

/**
 * Each document's slice of the source: from the end of the previous document (or `...`) to the
 * end of its own CST token, so comments before a `---` travel with the document they precede.
 */
function documentSpans(src: string, docs: readonly Document.Parsed[]): DocumentSpan[] {
  const spans: DocumentSpan[] = [];
  let start = 0;
  for (const token of new Parser().parse(src)) {
    const end = token.offset + CST.stringify(token).length;
    if (token.type === 'document') {
      const doc = docs[spans.length];
      if (doc === undefined) break;
      spans.push({ doc, start, end });
      start = end;
    } else if (token.type === 'doc-end') {
      start = end;
    }
  }
  if (spans.length !== docs.length) throw new Error(`the YAML parser saw ${docs.length} documents but the source has ${spans.length}`);
  return spans;
}
