import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtemp } from 'node:fs/promises';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { assertNoSecrets, CLI_PATH, runCli } from '../support/run-cli.js';
import { AWS_SECRET, ENV_ID, LAMBDA_VARS, freshBucket, projectWithPackages, s3Env, startS3Stack, type S3Stack } from './setup.js';

// Every user-caused configuration mistake: exit 2, a message naming the variable (or file), and not a
// single request to S3, STS or the gateway — nothing is half-written when configuration is wrong.

let stack: S3Stack;
let gw: GatewayFake;
let bucket: string;
let dir: string;

beforeAll(async () => {
  stack = await startS3Stack();
  gw = await startGatewayFake();
  bucket = await freshBucket(stack);
  dir = await projectWithPackages(['a.zip', 'b.zip']);
  await mkdir(join(dir, 'dist/nested/a.zip'), { recursive: true }).catch(() => undefined);
  await mkdir(join(dir, 'twins/one'), { recursive: true });
  await mkdir(join(dir, 'twins/two'), { recursive: true });
  await writeFile(join(dir, 'twins/one/same.zip'), '1');
  await writeFile(join(dir, 'twins/two/same.zip'), '2');
  const outside = await mkdtemp(join(tmpdir(), 'outside-'));
  await writeFile(join(outside, 'secret.zip'), 'not yours');
  await symlink(join(outside, 'secret.zip'), join(dir, 'escape.zip'));
});
afterAll(async () => {
  await gw.close();
  await stack.close();
});

const base = () =>
  s3Env(stack, bucket, {
    CI_PROJECT_DIR: dir,
    CI_URL: gw.url,
    ...LAMBDA_VARS,
  });

const cases: [string, Record<string, string | undefined>, RegExp, string?][] = [
  ['missing LAMBDA_ARTIFACTS', { LAMBDA_ARTIFACTS: undefined }, /LAMBDA_ARTIFACTS: is not set/],
  ['missing LAMBDA_RUNTIME', { LAMBDA_RUNTIME: undefined }, /LAMBDA_RUNTIME: no runtime for 'dist\/a\.zip'/],
  ['missing LAMBDA_API', { LAMBDA_API: undefined }, /LAMBDA_API: is not set/],
  ['LAMBDA_ENVIRONMENT_ID not a UUID', { LAMBDA_ENVIRONMENT_ID: 'dev-env' }, /LAMBDA_ENVIRONMENT_ID: 'dev-env' is not a UUID/],
  ['missing S3_BUCKET_NAME', { S3_BUCKET_NAME: undefined }, /S3_BUCKET_NAME: is not set/],
  ['invalid bucket name', { S3_BUCKET_NAME: 'My_Bucket' }, /S3_BUCKET_NAME: 'My_Bucket' is not a valid bucket name/],
  ['missing region', { AWS_REGION: undefined }, /AWS_REGION: is not set/],
  ['neither mode', { CI_URL: undefined }, /GESTALT_META_URL: is not set \(nor CI_URL\)/],
  ['both modes', { GESTALT_META_URL: 'https://meta.example.com' }, /CI_URL: and GESTALT_META_URL are both set/],
  ['CI_URL not a URL', { CI_URL: 'deploy-lambda' }, /CI_URL: 'deploy-lambda' is not an http\(s\) URL/],
  ['GF_API_KEY without secret', { GF_API_KEY: 'key' }, /GF_API_SECRET: is not set but GF_API_KEY is/],
  ['LAMBDA_MEMORY not a number (meta)', { CI_URL: undefined, GESTALT_META_URL: 'https://meta.example.com', GESTALT_ORG: 'root', GESTALT_LAMBDA_PROVIDER_ID: ENV_ID, GESTALT_TOKEN: 't0k3n-value', LAMBDA_MEMORY: 'lots' }, /LAMBDA_MEMORY: 'lots' is not a whole number/],
  ['gateway setting with no effect', { LAMBDA_TIMEOUT: '60' }, /LAMBDA_TIMEOUT: has no effect in gateway mode/],
  ['unknown package access', { GESTALT_PACKAGE_ACCESS: 'world' }, /GESTALT_PACKAGE_ACCESS: 'world' is not a known value; use one of private, public, presigned/],
  ['concurrency out of range', { GESTALT_CONCURRENCY: '0' }, /GESTALT_CONCURRENCY: 0 is out of range/],
  ['role ARN malformed', { AWS_ROLE_ARN: 'arn:aws:iam::123:role/x', GESTALT_ID_TOKEN: 'x.y.z' }, /AWS_ROLE_ARN: 'arn:aws:iam::123:role\/x' is not an IAM role ARN/],
  ['role without ID token', { AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/deployer' }, /GESTALT_ID_TOKEN: is empty but AWS_ROLE_ARN is set; add `id_tokens:/],
  ['role duration too long', { AWS_ROLE_DURATION_SECONDS: '50000' }, /AWS_ROLE_DURATION_SECONDS: 50000 is out of range/],
  ['session name invalid', { AWS_ROLE_SESSION_NAME: 'has spaces in it' }, /AWS_ROLE_SESSION_NAME: 'has spaces in it' is not a valid session name/],
  ['pattern outside the project', { LAMBDA_ARTIFACTS: '../other/*.zip' }, /LAMBDA_ARTIFACTS: pattern '\.\.\/other\/\*\.zip' reaches outside the project dir/],
  ['pattern matching nothing', { LAMBDA_ARTIFACTS: 'build/*.zip' }, /LAMBDA_ARTIFACTS: pattern 'build\/\*\.zip' matches no file/],
  ['symlink escaping the project', { LAMBDA_ARTIFACTS: 'escape.zip' }, /LAMBDA_ARTIFACTS: 'escape\.zip' is a symlink to .*outside the project dir/],
  ['a directory', { LAMBDA_ARTIFACTS: 'dist/nested/*' }, /LAMBDA_ARTIFACTS: 'dist\/nested\/a\.zip' is a directory/],
  ['two packages, one function name', { LAMBDA_ARTIFACTS: 'twins/*/same.zip' }, /'twins\/one\/same\.zip' and 'twins\/two\/same\.zip' would both deploy as function 'lambdas\/main\/same\.zip'/],
  ['no environment', { CI_ENVIRONMENT_NAME: undefined }, /CI_ENVIRONMENT_NAME: is not set; give the job an environment/],
  ['functions file missing', { GESTALT_CONFIG: 'nope.yml' }, /GESTALT_CONFIG: 'nope\.yml' does not exist/],
];

describe('configuration errors: exit 2, the variable named, nothing sent', () => {
  it.each(cases)('%s', async (_name, overrides, message) => {
    const s3Before = stack.proxy.requests.length;
    const gwBefore = gw.requests.length;
    const r = await runCli(['deploy'], { env: { ...base(), ...overrides }, cwd: dir });
    expect(r.code, r.output).toBe(2);
    expect(r.output).toMatch(/configuration error \(\d+ problems?\); nothing was changed/);
    expect(r.output).toMatch(message);
    expect(r.output).not.toMatch(/\n\s+at /);
    expect(stack.proxy.requests.length).toBe(s3Before);
    expect(gw.requests.length).toBe(gwBefore);
    assertNoSecrets([r.output], [AWS_SECRET]);
  });

  it('reports every problem of a badly configured job at once', async () => {
    const r = await runCli(['deploy'], {
      env: { ...base(), LAMBDA_API: undefined, LAMBDA_ENVIRONMENT_ID: 'x', GESTALT_PACKAGE_ACCESS: 'open', LAMBDA_ARTIFACTS: 'nothing/*.zip', S3_BUCKET_NAME: undefined },
      cwd: dir,
    });
    expect(r.code).toBe(2);
    for (const v of ['LAMBDA_API', 'LAMBDA_ENVIRONMENT_ID', 'GESTALT_PACKAGE_ACCESS', 'S3_BUCKET_NAME']) expect(r.output).toContain(`- ${v}:`);
    expect(stack.proxy.requests.length).toBe(0);
  });

  it('the bundle is one file: copied alone into an empty directory, it runs with plain node', async () => {
    const lonely = await mkdtemp(join(tmpdir(), 'bundle-only-'));
    await copyFile(CLI_PATH, join(lonely, 'gestalt-deploy.js'));
    expect(await readdir(lonely)).toEqual(['gestalt-deploy.js']);
    const help = await runCli(['--help'], { env: { PATH: process.env.PATH }, cwd: lonely, script: join(lonely, 'gestalt-deploy.js') });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^gestalt-deploy \d+\.\d+\.\d+ — deploy serverless functions/);
    // A real command needs the bundled SDK, yaml and fast-glob: a configuration error proves they loaded.
    const deploy = await runCli(['deploy'], { env: { PATH: process.env.PATH }, cwd: lonely, script: join(lonely, 'gestalt-deploy.js') });
    expect(deploy.code).toBe(2);
    expect(deploy.output).not.toMatch(/Cannot find (module|package)/);
  });

  it('usage errors: unknown command and stray arguments exit 2; no arguments prints help and exits 2', async () => {
    for (const args of [['deplyo'], ['deploy', 'now'], []]) {
      const r = await runCli(args, { env: base(), cwd: dir });
      expect(r.code).toBe(2);
    }
    const help = await runCli(['--help'], { env: {}, cwd: dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: gestalt-deploy <command>/);
    const version = await runCli(['--version'], { env: {}, cwd: dir });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
