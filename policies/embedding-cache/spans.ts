// Where values lie in a JSON text, by byte offsets, so a stored embedding can be the exact bytes
// the backend wrote and an answer can be merged by concatenation instead of re-formatting
// thousands of numbers (which costs more than the model for a small embedder).
//
// The scanner assumes valid JSON: callers JSON.parse the same bytes first and use it only then.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** A value's bytes: [start, end). */
export interface Span {
  readonly start: number;
  readonly end: number;
}

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(b: Buffer, i: number): number {
  while (isSpace(b[i])) i++;
  return i;
}

/** From the opening quote of a string to just past its closing quote. */
function skipString(b: Buffer, i: number): number {
  i++;
  for (;;) {
    const c = b[i];
    if (c === undefined) throw new SyntaxError('unterminated string');
    if (c === BACKSLASH) i += 2;
    else if (c === QUOTE) return i + 1;
    else i++;
  }
}

/** Inside the container opening at (or after spaces from) `at`: -1 when it is empty, else where its first item starts. */
function firstItem(b: Buffer, at: number, open: number, close: number): number {
  const i = skipSpace(b, at);
  if (b[i] !== open) throw new SyntaxError(open === OPEN_OBJECT ? 'expected an object' : 'expected an array');
  const first = skipSpace(b, i + 1);
  return b[first] === close ? -1 : first;
}

/** After an item of a container: -1 at its closing byte, else where the next item starts. */
function nextItem(b: Buffer, end: number, close: number): number {
  const i = skipSpace(b, end);
  if (b[i] === close) return -1;
  if (b[i] !== COMMA) throw new SyntaxError('expected a comma');
  return skipSpace(b, i + 1);
}

/** From a value's first byte to just past it. */
export function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i);
  if (c === OPEN_ARRAY) {
    // An array of scalars without strings (a vector): its end is the next ']', found natively.
    const close = b.indexOf(CLOSE_ARRAY, i);
    if (close !== -1 && before(b, QUOTE, i, close) && before(b, OPEN_ARRAY, i + 1, close) && before(b, OPEN_OBJECT, i, close)) return close + 1;
    i = skipSpace(b, i + 1);
    if (b[i] === CLOSE_ARRAY) return i + 1;
    for (;;) {
      const end = skipValue(b, i);
      i = nextItem(b, end, CLOSE_ARRAY);
      if (i === -1) return skipSpace(b, end) + 1;
    }
  }
  if (c === OPEN_OBJECT) {
    i = skipSpace(b, i + 1);
    if (b[i] === CLOSE_OBJECT) return i + 1;
    for (;;) {
      if (b[i] !== QUOTE) throw new SyntaxError('expected a member name');
      i = skipSpace(b, skipString(b, i));
      if (b[i] !== COLON) throw new SyntaxError('expected a colon');
      const end = skipValue(b, skipSpace(b, i + 1));
      i = nextItem(b, end, CLOSE_OBJECT);
      if (i === -1) return skipSpace(b, end) + 1;
    }
  }
  // A number or a literal: up to the next delimiter.
  while (i < b.length) {
    const d = b[i]!;
    if (d === COMMA || d === CLOSE_OBJECT || d === CLOSE_ARRAY || isSpace(d)) break;
    i++;
  }
  return i;
}

/** Whether byte `c` does not occur in [from, to). */
function before(b: Buffer, c: number, from: number, to: number): boolean {
  const at = b.indexOf(c, from);
  return at === -1 || at >= to;
}

/** A member name: its bytes when they hold no escape (the common case), else decoded. */
function keyAt(b: Buffer, start: number, end: number): string {
  const raw = b.toString('latin1', start + 1, end - 1);
  return raw.includes('\\') || /[^\x20-\x7e]/.test(raw) ? (JSON.parse(b.toString('utf8', start, end)) as string) : raw;
}

/**
 * Each member of the object starting at `at` (a `{`), in order: name and value span. A repeated
 * name yields twice; callers keep the last, as JSON.parse does.
 */
export function* members(b: Buffer, at: number): Generator<[string, Span]> {
  let i = firstItem(b, at, OPEN_OBJECT, CLOSE_OBJECT);
  while (i !== -1) {
    const keyEnd = skipString(b, i);
    const name = keyAt(b, i, keyEnd);
    i = skipSpace(b, keyEnd);
    if (b[i] !== COLON) throw new SyntaxError('expected a colon');
    const start = skipSpace(b, i + 1);
    const end = skipValue(b, start);
    yield [name, { start, end }];
    i = nextItem(b, end, CLOSE_OBJECT);
  }
}

/** Each element span of the array starting at `at` (a `[`), in order. */
export function* elements(b: Buffer, at: number): Generator<Span> {
  let i = firstItem(b, at, OPEN_ARRAY, CLOSE_ARRAY);
  while (i !== -1) {
    const end = skipValue(b, i);
    yield { start: i, end };
    i = nextItem(b, end, CLOSE_ARRAY);
  }
}

/** The span of member `name` of the object at `at` (the last one, as JSON.parse keeps), or null. */
export function member(b: Buffer, at: number, name: string): Span | null {
  let found: Span | null = null;
  for (const [k, span] of members(b, at)) if (k === name) found = span;
  return found;
}
