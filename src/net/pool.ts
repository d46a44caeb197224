/**
 * Runs `fn` over `items` with at most `limit` in flight; results keep the input order. After a failure no new
 * item starts, the ones in flight finish, and then the first error is thrown: a caller cleaning up (aborting a
 * multipart upload) never races work that is still running. With `stop`, no new item starts once
 * `shouldStop()` answers true (cancellation); those items get `skipped(item)` as their result.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>, stop?: { shouldStop: () => boolean; skipped: (item: T) => R }): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      const item = items[index] as T;
      try {
        results[index] = stop?.shouldStop() ? stop.skipped(item) : await fn(item, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return results;
}
