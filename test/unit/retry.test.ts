// withRetry with injected sleep/random: no real waiting, and the waits themselves are asserted.
import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RETRY, withRetry } from '../../src/net/retry.js';
import type { RetryPolicy, Verdict } from '../../src/net/retry.js';

const POLICY: RetryPolicy = { attempts: 4, baseMs: 100, maxMs: 1000 };

function recorder() {
  const sleeps: number[] = [];
  return { sleeps, sleep: async (ms: number) => void sleeps.push(ms) };
}

describe('backoffDelay', () => {
  it('grows as base·2^(attempt-1) up to the cap (random = 1 gives the ceiling)', () => {
    const ceiling = (n: number) => backoffDelay(n, POLICY, () => 1);
    expect([1, 2, 3, 4, 5, 6].map(ceiling)).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('is a random fraction of the ceiling, rounded (full jitter)', () => {
    expect(backoffDelay(3, POLICY, () => 0)).toBe(0);
    expect(backoffDelay(3, POLICY, () => 0.5)).toBe(200);
    expect(backoffDelay(2, POLICY, () => 0.3333)).toBe(67);
  });

  it('never exceeds maxMs however many attempts', () => {
    expect(backoffDelay(60, POLICY, () => 0.999999)).toBe(1000);
  });

  it('defaults to 4 attempts, 400 ms base, 8 s cap', () => {
    expect(DEFAULT_RETRY).toEqual({ attempts: 4, baseMs: 400, maxMs: 8000 });
  });
});

describe('withRetry', () => {
  it('returns the first success without sleeping', async () => {
    const { sleeps, sleep } = recorder();
    const seen: number[] = [];
    const value = await withRetry(async (n) => (seen.push(n), 'ok'), () => 'retry', POLICY, { sleep });
    expect(value).toBe('ok');
    expect(seen).toEqual([1]);
    expect(sleeps).toEqual([]);
  });

  it('retries "retry" errors until success, passing the attempt number and backing off', async () => {
    const { sleeps, sleep } = recorder();
    const retries: { attempt: number; delayMs: number; error: unknown }[] = [];
    const seen: number[] = [];
    const value = await withRetry(
      async (n) => {
        seen.push(n);
        if (n < 3) throw new Error(`fail ${n}`);
        return n;
      },
      () => 'retry',
      POLICY,
      { sleep, random: () => 1, onRetry: (i) => retries.push(i) },
    );
    expect(value).toBe(3);
    expect(seen).toEqual([1, 2, 3]);
    expect(sleeps).toEqual([100, 200]);
    expect(retries.map((r) => [r.attempt, r.delayMs, (r.error as Error).message])).toEqual([
      [1, 100, 'fail 1'],
      [2, 200, 'fail 2'],
    ]);
  });

  it('makes exactly `attempts` calls and throws the last error', async () => {
    const { sleeps, sleep } = recorder();
    let calls = 0;
    const run = withRetry(
      async (n) => {
        calls++;
        throw new Error(`attempt ${n}`);
      },
      () => 'retry',
      POLICY,
      { sleep, random: () => 0.5 },
    );
    await expect(run).rejects.toThrow('attempt 4');
    expect(calls).toBe(4);
    expect(sleeps).toEqual([50, 100, 200]);
  });

  it("stops at once on a 'fail' verdict: exactly one call, no sleep, same error object", async () => {
    const { sleeps, sleep } = recorder();
    const err = new Error('AccessDenied');
    let calls = 0;
    const classified: unknown[] = [];
    const run = withRetry(
      async () => {
        calls++;
        throw err;
      },
      (e): Verdict => (classified.push(e), 'fail'),
      POLICY,
      { sleep },
    );
    await expect(run).rejects.toBe(err);
    expect(calls).toBe(1);
    expect(classified).toEqual([err]);
    expect(sleeps).toEqual([]);
  });

  it('classifies each error: a permanent error after transient ones stops there', async () => {
    const { sleeps, sleep } = recorder();
    let calls = 0;
    const run = withRetry(
      async () => {
        calls++;
        throw new Error(calls === 2 ? 'permanent' : 'transient');
      },
      (e) => ((e as Error).message === 'permanent' ? 'fail' : 'retry'),
      POLICY,
      { sleep, random: () => 0 },
    );
    await expect(run).rejects.toThrow('permanent');
    expect(calls).toBe(2);
    expect(sleeps).toEqual([0]);
  });

  it('with attempts = 1 never retries', async () => {
    const { sleeps, sleep } = recorder();
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new Error('x');
      }, () => 'retry', { ...POLICY, attempts: 1 }, { sleep }),
    ).rejects.toThrow('x');
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
  });
});
