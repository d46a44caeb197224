// "Did you mean …?" for variable names, commands and flags: the known name nearest to a typo.

/** Levenshtein distance: insertions, deletions and substitutions, each costing one. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The candidate nearest to `name`, when it is near enough to be a typo of it: at most a third of the
 * name's length (and at least 2) edits away, or the shortest candidate that `name` begins. Ties go to
 * the first candidate, so the answer is stable.
 */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    // Case-insensitive: lambda_memory is as much a typo of LAMBDA_MEMORY as LAMBDA_MEMMORY is.
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (bestDistance <= limit) return best;
  // A name cut short (S3_BUCKET for S3_BUCKET_NAME) is far in edits but plain to a reader.
  const lower = name.toLowerCase();
  const longer = candidates.filter((c) => lower.length >= 3 && c.toLowerCase().startsWith(lower));
  return longer.sort((a, b) => a.length - b.length)[0];
}
