import { describe, expect, it } from 'vitest';
import { resourceDigest, stableJson } from '../../src/gestalt/meta/digest.js';
import type { ReviewedPlan } from '../../src/reports/types.js';
import { comparePlans } from '../../src/run/plan-check.js';

const plan = (overrides: Partial<ReviewedPlan> = {}): ReviewedPlan => ({
  schema: 1,
  environment: 'review/main',
  project: 'acme/lambdas',
  mode: 'meta',
  environmentId: 'e1',
  record: '"etag-1"',
  functions: [
    { name: 'a', packageKey: 'p/a', sha256: '1'.repeat(64), gestalt: [{ id: 'id-a', digest: 'd'.repeat(64) }] },
    { name: 'b', packageKey: 'p/b', sha256: '2'.repeat(64), gestalt: 'absent' },
  ],
  ...overrides,
});

describe('comparePlans', () => {
  it('an identical reading holds', () => {
    expect(comparePlans(plan(), plan())).toEqual([]);
  });
  it('names every difference: package, Gestalt state, functions, record, environment', () => {
    const now = plan({
      environment: 'production',
      record: 'absent',
      functions: [
        { name: 'a', packageKey: 'p/a', sha256: '3'.repeat(64), gestalt: [{ id: 'id-a', digest: 'e'.repeat(64) }] },
        { name: 'c', packageKey: 'p/c', sha256: '4'.repeat(64), gestalt: 'absent' },
      ],
    });
    const d = comparePlans(plan(), now);
    expect(d).toEqual([
      "the plan is for environment 'review/main', this job's is 'production'",
      'the deployment record changed since the plan (another job wrote it: it was removed)',
      "'b' was planned but is not in this deploy",
      "the package of 'a' changed (sha256 111111111111… planned, 333333333333… now)",
      "Gestalt's lambda 'a' changed since the plan (id-a digest dddddddddddd… planned, id-a digest eeeeeeeeeeee… now)",
      "'c' is in this deploy but was not planned",
    ]);
  });
  it('a lambda that appeared under a planned name is a difference', () => {
    const now = plan();
    (now.functions[1] as { gestalt: unknown }).gestalt = [{ id: 'new', digest: 'f'.repeat(64) }];
    expect(comparePlans(plan(), now)).toEqual([`Gestalt's lambda 'b' changed since the plan (absent planned, new digest ffffffffffff… now)`]);
  });
});

describe('resource digests', () => {
  it('do not depend on key order, and change with any value', () => {
    expect(stableJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
    expect(resourceDigest({ a: 1, b: 2 })).toBe(resourceDigest({ b: 2, a: 1 }));
    expect(resourceDigest({ properties: { memory: 512 } })).not.toBe(resourceDigest({ properties: { memory: 1024 } }));
  });
});
