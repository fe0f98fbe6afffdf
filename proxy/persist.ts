// State that outlives a route table: breakers, caches, latency estimates, canary analysis.
// A reload builds a new table; policies ask for their state by a key that names what it
// belongs to (e.g. `breaker:route/backend`), and get back the same object when the key is
// unchanged. `keyed` values whose config changed are rebuilt (a changed route resets its canary).
export class Persistent {
  private readonly items = new Map<string, { readonly fingerprint: string; readonly value: unknown }>();

  /** The object stored under `key`, made by `make` when absent or when `fingerprint` changed. */
  get<T>(key: string, fingerprint: string, make: () => T): T {
    const have = this.items.get(key);
    if (have !== undefined && have.fingerprint === fingerprint) return have.value as T;
    // The replaced object goes first, so that what it reports on leaving (a breaker's gauge)
    // never lands after what its successor reports on arrival.
    if (have !== undefined) dispose(have.value);
    const value = make();
    this.items.set(key, { fingerprint, value });
    return value;
  }

  /** Drops what the current table no longer uses, calling `dispose` on objects that have one. */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, item] of this.items) {
      if (keys.has(key)) continue;
      this.items.delete(key);
      dispose(item.value);
    }
  }
}

function dispose(value: unknown): void {
  const v = value as { dispose?: () => void } | null;
  if (v !== null && typeof v === 'object' && typeof v.dispose === 'function') v.dispose();
}
