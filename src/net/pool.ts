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

/**
 * A gate allowing at most `limit` bodies at once across every caller, first come first served: the pipelined
 * deploy runs each function's upload and Gestalt write through one gate per service, so neither S3 nor Gestalt
 * sees more than its limit whatever stage the other functions are at. A finished body hands its slot straight
 * to the next waiter, so a newcomer can never squeeze in between and exceed the limit.
 */
export function gate(limit: number): <R>(body: () => Promise<R>) => Promise<R> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (body) => {
    if (active >= limit) await new Promise<void>((resume) => waiting.push(resume));
    else active++;
    try {
      return await body();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
