import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { closest, editDistance } from '../../src/config/closest.js';
import { KNOWN_VARIABLES, OWN_OUTPUTS, unknownVariableWarnings } from '../../src/config/known-variables.js';

// One list of the variables the runner reads: env.ts reads exactly those (the README test checks the table
// against env.ts), and everything else that looks like ours gets a warning with the nearest known name.

const read = (path: string) => readFile(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('the known variables', () => {
  it('are exactly the variables src/config/env.ts reads', async () => {
    const source = await read('src/config/env.ts');
    const readThere = new Set([...source.matchAll(/'((?:LAMBDA|GESTALT|GF|S3|AWS)_[A-Z0-9_]+|CI_URL)'/g)].map((m) => m[1] as string));
    expect([...KNOWN_VARIABLES].sort()).toEqual([...readThere].sort());
  });

  it('include what the template and the dotenv report set, so later jobs get no warning for them', async () => {
    const template = await read('templates/deploy.gitlab-ci.yml');
    expect(template).toMatch(/GESTALT_IMAGE:/);
    const write = await read('src/reports/write.ts');
    const dotenv = [...write.matchAll(/^\s+(GESTALT_[A-Z_]+):/gm)].map((m) => m[1]);
    expect(dotenv.length).toBeGreaterThan(3);
    for (const name of [...dotenv, 'GESTALT_IMAGE']) expect(OWN_OUTPUTS, name).toContain(name);
  });
});

describe('unknown variable warnings', () => {
  it('name the closest known variable for a typo', () => {
    expect(unknownVariableWarnings({ LAMBDA_MEMMORY: '1024', GESTALT_PACKAGE_ACESS: 'presigned', S3_BUCKET: 'b', GF_API_SECRT: 's' })).toEqual([
      'GESTALT_PACKAGE_ACESS is not a gestalt-deploy variable; did you mean GESTALT_PACKAGE_ACCESS? (GESTALT_PACKAGE_ACESS is ignored)',
      'GF_API_SECRT is not a gestalt-deploy variable; did you mean GF_API_SECRET? (GF_API_SECRT is ignored)',
      'LAMBDA_MEMMORY is not a gestalt-deploy variable; did you mean LAMBDA_MEMORY? (LAMBDA_MEMMORY is ignored)',
      'S3_BUCKET is not a gestalt-deploy variable; did you mean S3_BUCKET_NAME? (S3_BUCKET is ignored)',
    ]);
  });

  it('say so without a guess when nothing is near, and leave known names, outputs, other prefixes and the values alone', () => {
    const warnings = unknownVariableWarnings({ LAMBDA_SOMETHING_ELSE_ENTIRELY: 'secret-value', LAMBDA_MEMORY: '1', GESTALT_ENVIRONMENT_URL: 'u', GESTALT_IMAGE: 'i', AWS_PROFILE: 'p', CI_JOB_ID: '1', MY_LAMBDA_X: '1' });
    expect(warnings).toEqual([expect.stringMatching(/^LAMBDA_SOMETHING_ELSE_ENTIRELY is not a gestalt-deploy variable and is ignored; see the README's variables table/)]);
    expect(warnings.join()).not.toContain('secret-value');
  });
});

describe('closest', () => {
  it('measures edits and accepts only near names', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(closest('deplyo', ['deploy', 'stop', 'plan', 'doctor'])).toBe('deploy');
    expect(closest('lambda_memory', KNOWN_VARIABLES)).toBe('LAMBDA_MEMORY');
    expect(closest('frobnicate', ['deploy', 'stop', 'plan', 'doctor'])).toBeUndefined();
  });
});
