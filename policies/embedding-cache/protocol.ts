// What the embedding cache needs from a request protocol: the items of a batch (OpenAI
// `input` strings, KServe tensor rows), a smaller request for some of them, the backend's
// answer split back into one value per item, and the client's answer merged from values.
import type { IncomingHttpHeaders } from 'node:http';

export interface Split {
  /** One stored value per item asked, in the order asked. */
  readonly values: readonly Buffer[];
  /** What the merged answer takes from the backend's own (model name, usage). */
  readonly meta: unknown;
}

export interface Batch {
  /** Canonical text of everything in the request but the items: part of every item's key. */
  readonly context: string;
  /** Canonical text of each item, in request order. */
  readonly items: readonly string[];
  /** The request body asking for the items at `rows` only, in that order. */
  subset(rows: readonly number[]): Buffer;
  /** The backend's answer to subset() of `count` items, one value per item; null when it does not have that shape. */
  split(body: Buffer, count: number): Split | null;
  /** The client's answer: `values` holds one value per item in request order; `split` is the backend's part, if it was asked. */
  merge(values: readonly Buffer[], split: Split | null): Buffer;
  /** Whether a stored value is one this batch can merge (a guard against foreign bytes under a key). */
  accepts(value: Buffer): boolean;
}

export interface Protocol {
  readonly name: 'openai' | 'kserve';
  /** The batch, or null when the request is not one this cache can split (the backend then answers it whole). */
  parse(body: Buffer, headers: IncomingHttpHeaders): Batch | null;
}
