// A read-only cursor over the validated data for the normaliser. Schema errors have already
// been reported where a value has the wrong type, so a wrong-typed value reads as a neutral
// fallback here instead of throwing: the load fails anyway, and the normaliser can still
// run its own checks (references, files) over the rest of the file in the same pass.

import type { Bytes, Ms } from './types.ts';
import { parseDuration, parseSize } from './units.ts';
import type { Report } from './report.ts';
import type { Path } from './source.ts';

// setTimeout fires at once, with a warning, for delays above 2^31-1 ms (about 24.8 days).
const LONGEST_TIMER: Ms = 2 ** 31 - 1;

export class Field {
  readonly value: unknown;
  readonly path: Path;
  readonly report: Report;

  constructor(value: unknown, path: Path, report: Report) {
    this.value = value;
    this.path = path;
    this.report = report;
  }

  get present(): boolean {
    return this.value !== undefined;
  }

  get(key: string): Field {
    const v = isRecord(this.value) && Object.hasOwn(this.value, key) ? this.value[key] : undefined;
    return new Field(v, [...this.path, key], this.report);
  }

  list(): Field[] {
    return Array.isArray(this.value) ? this.value.map((v, i) => new Field(v, [...this.path, i], this.report)) : [];
  }

  entries(): [string, Field][] {
    return isRecord(this.value) ? Object.keys(this.value).map((k) => [k, this.get(k)]) : [];
  }

  /** `read(this)` when the key is given, else null. */
  optional<T>(read: (f: Field) => T): T | null {
    return this.present ? read(this) : null;
  }

  async optionalAsync<T>(read: (f: Field) => Promise<T>): Promise<T | null> {
    return this.present ? read(this) : null;
  }

  string(fallback = ''): string {
    return typeof this.value === 'string' ? this.value : fallback;
  }

  number(fallback = 0): number {
    return typeof this.value === 'number' ? this.value : fallback;
  }

  boolean(fallback = false): boolean {
    return typeof this.value === 'boolean' ? this.value : fallback;
  }

  /** Milliseconds. `timer: false` for values that never become a timer delay (cache lifetimes). */
  duration(fallback: Ms = 0, { timer = true } = {}): Ms {
    if (typeof this.value !== 'string') return fallback;
    try {
      const ms = parseDuration(this.value);
      if (timer && ms > LONGEST_TIMER) {
        this.fail(`expected at most "596h" (the longest delay a timer can wait), got ${JSON.stringify(this.value)}`);
        return fallback;
      }
      return ms;
    } catch (e) {
      this.fail((e as Error).message);
      return fallback;
    }
  }

  size(fallback: Bytes = 0): Bytes {
    if (typeof this.value !== 'string' && typeof this.value !== 'number') return fallback;
    try {
      return parseSize(this.value);
    } catch (e) {
      this.fail((e as Error).message);
      return fallback;
    }
  }

  fail(message: string, where: 'key' | 'value' = 'value'): void {
    this.report.add('semantic', this.path, message, where);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
