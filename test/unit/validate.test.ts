// The one validation: variables, functions file and packages checked together, by deploy's rules for doctor
// too. Runs on a real temp project dir, since the archive and environment-URL rules need matched packages.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '../../src/run/validate.js';

type Env = Record<string, string | undefined>;
const dir = mkdtempSync(join(tmpdir(), 'gd-validate-'));
beforeAll(() => {
  mkdirSync(join(dir, 'dist'));
  for (const f of ['api.zip', 'worker.tar.gz', 'tool.jar', 'plain.js']) writeFileSync(join(dir, 'dist', f), f);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const META: Env = {
  CI_PROJECT_NAME: 'lambdas',
  CI_PROJECT_PATH: 'acme/lambdas',
  CI_COMMIT_REF_SLUG: 'main',
  CI_COMMIT_SHA: '0123456789abcdef0123456789abcdef01234567',
  CI_ENVIRONMENT_NAME: 'review/main',
  CI_PROJECT_DIR: dir,
  S3_BUCKET_NAME: 'acme-packages',
  AWS_REGION: 'eu-west-1',
  LAMBDA_ARTIFACTS: 'dist/*',
  LAMBDA_RUNTIME: 'nodejs',
  LAMBDA_API: 'acme',
  LAMBDA_ENVIRONMENT_ID: 'e7b3ca8b-5b9a-4a51-8309-3ced4718e41f',
  GESTALT_META_URL: 'https://meta.example.com',
  GESTALT_ORG: 'acme',
  GESTALT_LAMBDA_PROVIDER_ID: '3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c',
  GF_API_KEY: 'key-id',
  GF_API_SECRET: 'key-secret-value',
};

describe('the archive rule', () => {
  it('meta mode: archives without a handler are one problem naming LAMBDA_HANDLER; a single file keeps its file name', async () => {
    const { problems, functions } = await validate('deploy', META, dir);
    expect(problems).toEqual([{ variable: 'LAMBDA_HANDLER', message: expect.stringMatching(/^is not set, and dist\/api\.zip, dist\/tool\.jar, dist\/worker\.tar\.gz are archives: Gestalt runs the file the handler names inside the archive/) }]);
    expect(functions.find((f) => f.file === 'plain.js')?.handler).toBe('plain.js');
  });

  it('is met by LAMBDA_HANDLER, or by handler: of the functions file entry', async () => {
    expect((await validate('deploy', { ...META, LAMBDA_HANDLER: '{basename}.js;handler' }, dir)).problems).toEqual([]);
    writeFileSync(join(dir, 'fns.yml'), ['functions:', '  - artifact: dist/api.zip', '    handler: api.js', '  - artifact: dist/tool.jar'].join('\n'));
    const { problems } = await validate('deploy', { ...META, LAMBDA_ARTIFACTS: undefined, GESTALT_CONFIG: 'fns.yml' }, dir);
    expect(problems).toEqual([{ variable: 'fns.yml:4', message: expect.stringMatching(/^no handler for the archive dist\/tool\.jar \(and LAMBDA_HANDLER is not set\)/) }]);
  });

  it('gateway mode: one warning, no problem', async () => {
    const env = { ...META, GESTALT_META_URL: undefined, GESTALT_ORG: undefined, GESTALT_LAMBDA_PROVIDER_ID: undefined, CI_URL: 'https://gw.example.com/deploy' };
    const { problems, warnings } = await validate('deploy', env, dir);
    expect(problems).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/^dist\/api\.zip, dist\/tool\.jar, dist\/worker\.tar\.gz are archives: in gateway mode the deployment lambda decides handler and compression/)]);
  });
});

describe('one validation for every command', () => {
  it('doctor reports exactly the problems deploy would', async () => {
    const env = { ...META, LAMBDA_API: undefined, LAMBDA_ENVIRONMENT_ID: undefined, GESTALT_LAMBDA_PROVIDER_ID: undefined, LAMBDA_ARTIFACTS: 'nothing/*.zip' };
    const deploy = await validate('deploy', env, dir);
    const doctor = await validate('doctor', env, dir);
    expect(deploy.problems.map((p) => p.variable).sort()).toEqual(['GESTALT_LAMBDA_PROVIDER_ID', 'LAMBDA_API', 'LAMBDA_ARTIFACTS', 'LAMBDA_ENVIRONMENT_ID']);
    expect(doctor.problems).toEqual(deploy.problems);
    expect(doctor.config.command).toBe('doctor');
    expect((await validate('plan', env, dir)).problems).toEqual(deploy.problems);
  });

  it('stop matches no packages and needs no LAMBDA_* variables', async () => {
    const { problems, functions } = await validate('stop', { ...META, LAMBDA_ARTIFACTS: undefined, LAMBDA_API: undefined }, dir);
    expect(problems).toEqual([]);
    expect(functions).toEqual([]);
  });

  it('keeps unknown-variable warnings in the config for the report', async () => {
    const { config, warnings } = await validate('stop', { ...META, LAMBDA_MEMMORY: '1024' }, dir);
    expect(warnings).toEqual([expect.stringContaining('did you mean LAMBDA_MEMORY?')]);
    expect(config.warnings).toEqual(warnings);
  });
});

describe('the environment URL function', () => {
  const env = { ...META, LAMBDA_HANDLER: 'x' };
  it('is kept as a function name, found by name or package file name', async () => {
    expect((await validate('deploy', { ...env, GESTALT_ENVIRONMENT_URL_FUNCTION: 'tool.jar' }, dir)).config.environmentUrlFunction).toBe('lambdas/main/tool.jar');
    expect((await validate('deploy', { ...env, GESTALT_ENVIRONMENT_URL_FUNCTION: 'lambdas/main/api.zip' }, dir)).config.environmentUrlFunction).toBe('lambdas/main/api.zip');
  });

  it('naming nothing deployed is a problem that lists the functions', async () => {
    const { problems } = await validate('deploy', { ...env, GESTALT_ENVIRONMENT_URL_FUNCTION: 'nope' }, dir);
    expect(problems).toEqual([{ variable: 'GESTALT_ENVIRONMENT_URL_FUNCTION', message: expect.stringMatching(/^'nope' names no function of this deploy; use a function name or package file name: lambdas\/main\/api\.zip, .* and 1 more\.$/) }]);
  });
});

describe('LAMBDA_ARTIFACTS with commas', () => {
  it('is one problem with the list rewritten, and braces stay a pattern of their own', async () => {
    const { problems } = await validate('deploy', { ...META, LAMBDA_HANDLER: 'x', LAMBDA_ARTIFACTS: 'dist/api.zip,dist/tool.jar dist/{plain,api}.*' }, dir);
    expect(problems).toEqual([{ variable: 'LAMBDA_ARTIFACTS', message: expect.stringContaining('write "dist/api.zip dist/tool.jar"') }]);
  });
});
