// The one retry loop. Callers say whether an error is worth another try; this decides how long to wait.

export type Verdict = 'retry' | 'fail';

export interface RetryPolicy {
  attempts: number; // total tries, including the first
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseMs: 400, maxMs: 8000 };

export interface RetryHooks {
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** "Full jitter" backoff: a random wait up to base·2^attempt, capped, so parallel callers spread out. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return Math.round(random() * ceiling);
}

export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  classify: (error: unknown) => Verdict,
  policy: RetryPolicy = DEFAULT_RETRY,
  hooks: RetryHooks = {},
): Promise<T> {
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= policy.attempts || classify(error) === 'fail') throw error;
      const delayMs = backoffDelay(attempt, policy, hooks.random);
      hooks.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}
