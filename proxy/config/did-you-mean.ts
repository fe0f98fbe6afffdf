// "did you mean" hints for unknown keys and names: the closest candidate by edit distance,
// when it is close enough to be a plausible typo.

/** The candidate closest to `word` (case-insensitive Levenshtein), or undefined when none is plausibly meant. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(w, candidate.toLowerCase());
    if (d < bestDistance) { best = candidate; bestDistance = d; }
  }
  if (best === undefined || bestDistance === 0 && best === word) return undefined;
  // A third of the letters may be wrong, and one always may from three letters up; below
  // that every name is one edit from every other, so only a change of case is a hint.
  const allowed = best.length >= 3 ? Math.max(1, Math.floor(best.length / 3)) : 0;
  return bestDistance <= allowed ? best : undefined;
}

// Edit distance where swapping two neighbouring letters (`modle`) counts as one edit, as
// it is one slip of the fingers (optimal string alignment distance).
function distance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row[j] = d;
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}
