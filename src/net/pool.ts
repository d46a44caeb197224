/**
 * Runs `fn` over `items` with at most `limit` in flight; results keep the input order. With `shouldStop`, no new
 * item starts once it answers true (cancellation); those items get `skipped(item)` as their result.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>, stop?: { shouldStop: () => boolean; skipped: (item: T) => R }): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      const item = items[index] as T;
      results[index] = stop?.shouldStop() ? stop.skipped(item) : await fn(item, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
