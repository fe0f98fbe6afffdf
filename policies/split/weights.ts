// A route's live backend weights. They start as configured; a canary changes them without a
// reload (rollback to 0, promotion steps). The split reads them on every request, so this is
// the one place the route's weights live. Kept across reloads while the route is unchanged.
import type { BackendRef } from '../../proxy/config/types.ts';

export class LiveWeights {
  readonly names: readonly string[];
  readonly configured: readonly number[];
  /** Aligned with `names`: the weight each backend has now. */
  readonly current: number[];

  constructor(backends: readonly BackendRef[]) {
    this.names = backends.map((b) => b.to);
    this.configured = backends.map((b) => b.weight);
    this.current = [...this.configured];
  }

  indexOf(name: string): number {
    return this.names.indexOf(name);
  }

  get(name: string): number {
    const i = this.indexOf(name);
    return i === -1 ? 0 : this.current[i]!;
  }

  /** The percent of the configured total `name` has now (0-100). */
  sharePercent(name: string): number {
    const total = this.current.reduce((s, w) => s + w, 0);
    return total === 0 ? 0 : (this.get(name) / total) * 100;
  }

  /**
   * Gives `name` `percent`% of the traffic; the others share the rest in their configured
   * proportions (all of it when they are the only ones left).
   */
  setShare(name: string, percent: number): void {
    const i = this.indexOf(name);
    if (i === -1) throw new Error(`"${name}" is not one of this route's backends`);
    const p = Math.min(100, Math.max(0, percent));
    let othersConfigured = 0;
    for (let k = 0; k < this.names.length; k++) if (k !== i) othersConfigured += this.configured[k]!;
    if (othersConfigured === 0) {
      // Nothing else takes traffic in the configured split: the named backend keeps it all.
      this.current[i] = 1;
      return;
    }
    // Weights are relative: scale them so the others keep their configured sum.
    for (let k = 0; k < this.names.length; k++) {
      if (k === i) continue;
      this.current[k] = p === 100 ? 0 : this.configured[k]!;
    }
    this.current[i] = p === 100 ? 1 : (othersConfigured * p) / (100 - p);
  }

  /** Back to the configured weights. */
  restore(): void {
    for (let k = 0; k < this.names.length; k++) this.current[k] = this.configured[k]!;
  }
}
