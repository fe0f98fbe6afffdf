// prom-client's labels() hashes its values and allocates on every call. For counters updated
// per request (cache results, retries, sheds, shadow copies), each label combination's child is
// looked up once and kept: label values are config names and codes, so the map stays bounded.
import type { Counter } from 'prom-client';

export interface CounterChild {
  inc(n?: number): void;
}

/** `(…values) => the counter's child for those label values`, memoised. */
export function counterChildren<L extends string>(counter: Counter<L>): (...values: string[]) => CounterChild {
  const children = new Map<string, CounterChild>();
  return (...values) => {
    const k = values.join('\u0000');
    let c = children.get(k);
    if (c === undefined) children.set(k, c = counter.labels(...values));
    return c;
  };
}
