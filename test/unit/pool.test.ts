// mapLimit observed with deferred promises: the test decides when each task finishes, so the in-flight count and
// the result order are checked at every step rather than inferred from timing.
import { describe, expect, it } from 'vitest';
import { gate, mapLimit } from '../../src/net/pool.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
const tick = () => new Promise<void>((r) => setImmediate(r));

describe('mapLimit', () => {
  it('never runs more than `limit` at once, starts the next as one finishes, keeps input order', async () => {
    const items = ['a', 'b', 'c', 'd', 'e'];
    const gates = items.map(() => deferred<string>());
    const started: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const done = mapLimit(items, 2, async (item, index) => {
      started.push(index);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return `${item}:${await gates[index]!.promise}`;
      } finally {
        inFlight--;
      }
    });

    await tick();
    expect(started).toEqual([0, 1]);
    expect(inFlight).toBe(2);

    // Finish out of order: the second first.
    gates[1]!.resolve('1');
    await tick();
    expect(started).toEqual([0, 1, 2]);
    expect(inFlight).toBe(2);

    gates[2]!.resolve('2');
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);

    gates[3]!.resolve('3');
    gates[0]!.resolve('0');
    await tick();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(inFlight).toBe(1);

    gates[4]!.resolve('4');
    expect(await done).toEqual(['a:0', 'b:1', 'c:2', 'd:3', 'e:4']);
    expect(maxInFlight).toBe(2);
  });

  it('runs everything at once when the limit exceeds the item count', async () => {
    const gates = [deferred<number>(), deferred<number>(), deferred<number>()];
    let inFlight = 0;
    const done = mapLimit([0, 1, 2], 8, async (i) => {
      inFlight++;
      return gates[i]!.promise;
    });
    await tick();
    expect(inFlight).toBe(3);
    gates.forEach((g, i) => g.resolve(i * 10));
    expect(await done).toEqual([0, 10, 20]);
  });

  it('treats a limit below 1 as 1 (sequential) instead of never starting', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const result = await mapLimit([3, 1, 2], 0, async (n) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await tick();
      inFlight--;
      return n * 2;
    });
    expect(result).toEqual([6, 2, 4]);
    expect(maxInFlight).toBe(1);
  });

  it('returns [] for no items without calling fn', async () => {
    let calls = 0;
    expect(await mapLimit([], 4, async () => ++calls)).toEqual([]);
    expect(calls).toBe(0);
  });

  it('rejects with the task error', async () => {
    const err = new Error('task 1 failed');
    await expect(mapLimit([0, 1, 2], 2, async (i) => {
      if (i === 1) throw err;
      return i;
    })).rejects.toBe(err);
  });
});

describe('mapLimit after a failure', () => {
  it('starts nothing new, lets the tasks in flight finish, then rejects with the first error', async () => {
    const gates = [deferred<number>(), deferred<number>(), deferred<number>(), deferred<number>()];
    const started: number[] = [];
    const finished: number[] = [];
    const done = mapLimit([0, 1, 2, 3], 2, async (i) => {
      started.push(i);
      try {
        return await gates[i]!.promise;
      } finally {
        finished.push(i);
      }
    });
    let settled = false;
    const outcome = done.then(
      () => 'resolved',
      (e: unknown) => e,
    ).finally(() => {
      settled = true;
    });
    await tick();
    const first = new Error('part 1 failed');
    gates[0]!.reject(first);
    await tick();
    // Task 1 is still in flight: the call has not settled, and no third task started.
    expect(started).toEqual([0, 1]);
    expect(settled).toBe(false);
    gates[1]!.reject(new Error('a later failure'));
    expect(await outcome).toBe(first);
    expect(started).toEqual([0, 1]);
    expect(finished.sort()).toEqual([0, 1]);
  });
});

describe('gate', () => {
  it('lets at most `limit` bodies run across callers, first come first served, and a newcomer never takes a handed-over slot', async () => {
    const run = gate(2);
    const bodies = [0, 1, 2, 3].map(() => deferred<number>());
    const started: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const call = (i: number) => {
      const result = run(async () => {
        started.push(i);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          return await (bodies[i] as Deferred<number>).promise;
        } finally {
          inFlight--;
        }
      });
      result.catch(() => undefined); // observed below with allSettled
      return result;
    };
    const first = [call(0), call(1), call(2)];
    await tick();
    expect(started).toEqual([0, 1]);
    bodies[0]?.resolve(0);
    // The slot goes to 2, which was waiting; 3 arrives in the same turn and must wait behind it.
    const late = call(3);
    await tick();
    expect(started).toEqual([0, 1, 2]);
    expect(inFlight).toBe(2);
    bodies[1]?.reject(new Error('one fails'));
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    bodies[2]?.resolve(2);
    bodies[3]?.resolve(3);
    const settled = await Promise.allSettled([...first, late]);
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(maxInFlight).toBe(2);
    // Every slot came back: a fresh round runs two at once again.
    const again = [4, 5].map(() => deferred<number>());
    let now = 0;
    const round = again.map((d) => run(async () => (now++, d.promise)));
    await tick();
    expect(now).toBe(2);
    again.forEach((d, i) => d.resolve(i));
    await Promise.all(round);
  });
});
