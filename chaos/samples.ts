// Reading a load run's samples: windows in time, percentiles, counts, and how to print them.
import type { Sample } from './load.ts';

/** Nearest-rank percentile (p in 0-100); NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Samples sent in [from, to) (performance.now() values). */
export function sentBetween(samples: readonly Sample[], from: number, to: number): Sample[] {
  return samples.filter((s) => s.sentAt >= from && s.sentAt < to);
}

/** 200 with this request's own, complete body. */
export function isOk(s: Sample): boolean {
  return s.status === 200 && s.bodyOk === true;
}

export function countBy<T>(items: readonly T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of items) {
    const k = key(t);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** How a sample ended, in a word: "200", "503 overloaded", "502 bad_gateway", "cut UND_ERR_SOCKET", "hung". */
export function outcome(s: Sample): string {
  if (s.hung) return 'hung';
  if (s.status === 0) return `no-response ${s.code ?? ''}`.trim();
  if (s.bodyError !== null) return `${s.status} cut ${s.bodyError}`;
  if (s.status === 200) return s.bodyOk === false ? '200 wrong-body' : '200';
  return `${s.status} ${s.code ?? ''}`.trim();
}

export function formatCounts(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ×${n}`).join(', ');
}

export function ms(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n >= 100 ? `${Math.round(n)} ms` : `${n.toFixed(n >= 10 ? 1 : 2)} ms`;
}

export function pct(part: number, whole: number): string {
  return whole === 0 ? 'n/a' : `${((part / whole) * 100).toFixed(2)}%`;
}

export function maxOf(values: readonly number[]): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const v of values) if (v > m) m = v;
  return values.length === 0 ? Number.NaN : m;
}
