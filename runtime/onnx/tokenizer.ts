// The built-in tokenizer for the bundled embedder (runtime `tokenizer: builtin`).
//
//   text -> NFKC -> lower case -> split on every run of characters that are not Unicode
//   letters, marks or digits -> each word hashed with 32-bit FNV-1a over its UTF-8 bytes
//   -> id = 1 + hash mod (vocabSize - 1)  (0 is the pad id, never produced)
//   -> the first maxTokens ids are kept, the rest dropped.
//
// A text with no words (the empty string, only punctuation) gives no ids; the embeddings
// endpoint then sends a single pad id, which the bundled embedder maps to its fixed,
// unit-norm "empty text" embedding (its normalised bias) and counts as 0 prompt tokens.
// Any client can reproduce the ids from this description (see tokenizer.json for the constants,
// which scripts/gen_models.py reads too so the model's vocabulary and these ids agree).
import spec from './tokenizer.json' with { type: 'json' };

export interface TokenizerSpec {
  readonly name: string;
  readonly vocabSize: number;
  readonly padId: number;
  readonly maxTokens: number;
}

export const TOKENIZER: TokenizerSpec = Object.freeze({ ...spec });

const WORD_SEPARATORS = /[^\p{L}\p{M}\p{N}]+/u;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a of the UTF-8 encoding of `word`, computed without allocating the bytes. */
export function fnv1a(word: string): number {
  let h = FNV_OFFSET;
  const byte = (b: number) => { h = Math.imul(h ^ b, FNV_PRIME); };
  for (const ch of word) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) byte(c);
    else if (c < 0x800) { byte(0xc0 | (c >> 6)); byte(0x80 | (c & 0x3f)); }
    else if (c < 0x10000) { byte(0xe0 | (c >> 12)); byte(0x80 | ((c >> 6) & 0x3f)); byte(0x80 | (c & 0x3f)); }
    else { byte(0xf0 | (c >> 18)); byte(0x80 | ((c >> 12) & 0x3f)); byte(0x80 | ((c >> 6) & 0x3f)); byte(0x80 | (c & 0x3f)); }
  }
  return h >>> 0;
}

export function tokenize(text: string, tok: TokenizerSpec = TOKENIZER): number[] {
  const ids: number[] = [];
  for (const word of text.normalize('NFKC').toLowerCase().split(WORD_SEPARATORS)) {
    if (word === '') continue;
    ids.push(1 + (fnv1a(word) % (tok.vocabSize - 1)));
    if (ids.length === tok.maxTokens) break;
  }
  return ids;
}
