import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { startOidcSts } from '../support/oidc-sts.js';
import { assertNoSecrets, makeProject, type CliResult } from '../support/run-cli.js';
import { GATEWAY, recordingRunner, useMetaWorld } from './meta-setup.js';
import { AWS_SECRET, GF_SECRET, LAMBDA_VARS, projectWithPackages, s3Env, s3Writes } from './setup.js';

// What deploy, plan and doctor check before anything is written, and what they say about it: several causes
// at once, a provider of the wrong kind, STS out of reach; what plan shows of each change; which function's URL
// becomes the environment URL; and a long upload that says how far it got.

const w = useMetaWorld();
const outputs: CliResult[] = [];
const run = recordingRunner(outputs);

afterAll(() => {
  assertNoSecrets(outputs.flatMap((o) => [o.output, o.files.env, JSON.stringify(o.files.json ?? {})]), [AWS_SECRET, GF_SECRET, 'value-never-shown']);
});
beforeEach(() => {
  w.stack.proxy.delayMs = undefined;
});

function metaEnv(dir: string, extra: Record<string, string | undefined> = {}) {
  return w.env(dir, { LAMBDA_HANDLER: '{basename}.js;handler', GESTALT_GATEWAY_URL: GATEWAY, ...extra });
}

const errorLines = (r: CliResult) => r.output.split('\n').filter((l) => l.startsWith('ERROR:'));

describe('the preflight', () => {
  it('reports every independent cause in one run, one sentence each, and writes nothing', async () => {
    const dir = await projectWithPackages();
    const mark = w.stack.proxy.requests.length;
    const r = await run(['deploy'], metaEnv(dir, { S3_BUCKET_NAME: 'no-such-bucket-here', GESTALT_LAMBDA_PROVIDER_ID: '5a1f0f3e-0000-4000-8000-000000000000', LAMBDA_API: 'nope' }), dir);
    expect(r.code, r.output).toBe(1);
    const errors = errorLines(r);
    expect(errors).toHaveLength(3);
    expect(errors.join('\n')).toMatch(/S3_BUCKET_NAME 'no-such-bucket-here' names no bucket/);
    expect(errors.join('\n')).toMatch(/GESTALT_LAMBDA_PROVIDER_ID 5a1f0f3e-\S+ is not a Lambda provider/);
    expect(errors.join('\n')).toMatch(/LAMBDA_API 'nope' names no API/);
    expect(r.files.json.errors).toHaveLength(3);
    expect(s3Writes(w.stack, mark)).toEqual([]);
    expect(w.meta.requests.filter((q) => q.method !== 'GET')).toEqual([]);
  });

  it('refuses a provider id that names a provider of another kind', async () => {
    const dir = await projectWithPackages(['one.zip']);
    const providers = (await (await fetch(`${w.meta.url}/root/providers?expand=true`, { headers: { authorization: `Basic ${Buffer.from(`gf-key:${GF_SECRET}`).toString('base64')}` } })).json()) as { id: string; resource_type: string }[];
    const kong = providers.find((p) => p.resource_type.endsWith('::Kong'));
    expect(kong).toBeDefined();
    const r = await run(['plan'], metaEnv(dir, { GESTALT_LAMBDA_PROVIDER_ID: kong?.id }), dir);
    expect(r.code).toBe(1);
    expect(errorLines(r)).toEqual([expect.stringMatching(new RegExp(`GESTALT_LAMBDA_PROVIDER_ID ${kong?.id} is a Kong provider .*, not a Lambda provider`))]);
  });

  it('STS out of reach names AWS_ENDPOINT_URL_STS; S3 sees nothing and Gestalt only the read-only lookups that ran meanwhile', async () => {
    const dir = await projectWithPackages(['one.zip']);
    const mark = w.stack.proxy.requests.length;
    const r = await run(['deploy'], metaEnv(dir, { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/deployer', GESTALT_ID_TOKEN: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sig', AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9', GESTALT_RETRY_ATTEMPTS: '1' }), dir);
    expect(r.code).toBe(1);
    expect(errorLines(r)).toEqual([expect.stringMatching(/STS at http:\/\/127\.0\.0\.1:9 could not be reached \(ECONNREFUSED\) after retries; check AWS_ENDPOINT_URL_STS/)]);
    expect(w.stack.proxy.requests.length).toBe(mark);
    // The lookups need no AWS credentials, so they ran while STS was tried; nothing was written.
    expect(w.meta.requests.filter((q) => q.method !== 'GET')).toEqual([]);
  });
});

describe('the lookups and the credentials', () => {
  it('Gestalt lookups run while STS is still answering: they need no AWS credentials', { timeout: 60_000 }, async () => {
    const role = 'arn:aws:iam::111111111111:role/gitlab-deployer';
    const sts = await startOidcSts({ roles: [{ arn: role }] });
    try {
      (sts.roles[0] as { trust?: unknown }).trust = sts.trustPolicyFor('project_path:acme/lambdas:ref_type:branch:ref:main');
      sts.answerDelayMs = 800;
      const idToken = await sts.mintToken({ environment: 'review/main' });
      const dir = await projectWithPackages(['one.zip']);
      w.meta.clearRequests();
      const r = await run(['deploy'], metaEnv(dir, { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_ROLE_ARN: role, GESTALT_ID_TOKEN: idToken, AWS_ENDPOINT_URL_STS: sts.stsUrl }), dir);
      expect(r.code, r.output).toBe(0);
      const assumed = sts.requests.find((q) => q.action === 'AssumeRoleWithWebIdentity');
      const lookups = w.meta.requests.filter((q) => q.method === 'GET');
      const writes = w.meta.requests.filter((q) => q.method !== 'GET');
      expect(lookups.length).toBeGreaterThanOrEqual(4);
      // All of them arrived while STS held its answer; the first write only after it.
      for (const q of lookups.slice(0, 4)) expect(q.at).toBeLessThan((assumed?.at ?? 0) + sts.answerDelayMs);
      expect(Math.min(...writes.map((q) => q.at))).toBeGreaterThanOrEqual((assumed?.at ?? Infinity) + sts.answerDelayMs);
      assertNoSecrets([r.output, JSON.stringify(r.files.json ?? {})], [idToken, ...sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken ?? ''])].filter(Boolean));
    } finally {
      await sts.close();
    }
  });
});

describe('plan shows what would change, with current and new values', () => {
  it('meta: each changed setting from what Meta holds to what deploy would send; env by names only', async () => {
    const dir = await projectWithPackages(['a.zip', 'b.zip']);
    const file = (value: string) => ['functions:', '  - artifact: dist/a.zip', '    env:', `      TOKEN: ${value}`, '  - artifact: dist/b.zip'].join('\n');
    await writeFile(join(dir, 'gestalt-deploy.yml'), file('value-never-shown'));
    expect((await run(['deploy'], metaEnv(dir, { LAMBDA_ARTIFACTS: undefined }), dir)).code).toBe(0);
    const before = w.meta.lambdas().find((l) => l.name === 'lambdas/main/b.zip').properties.package_url as string;

    await writeFile(join(dir, 'gestalt-deploy.yml'), file('value-never-shown-2').replace('    env:', '    env:\n      ADDED: "1"'));
    await writeFile(join(dir, 'dist/b.zip'), 'PK-b-changed');
    w.meta.clearRequests();
    const r = await run(['plan'], metaEnv(dir, { LAMBDA_ARTIFACTS: undefined, LAMBDA_MEMORY: '1024' }), dir);
    expect(r.code, r.output).toBe(0);
    expect(w.meta.requests.filter((q) => q.method !== 'GET')).toEqual([]);
    const plan = JSON.parse(await readFile(join(dir, 'gestalt-plan.json'), 'utf8'));
    const byName = Object.fromEntries(plan.functions.map((f: { name: string }) => [f.name, f]));
    expect(byName['lambdas/main/a.zip'].changes).toEqual([
      { field: 'memory', from: '512', to: '1024' },
      { field: 'env', from: 'TOKEN', to: 'ADDED, TOKEN (new value)' },
    ]);
    const b = byName['lambdas/main/b.zip'].changes;
    expect(b[0]).toEqual({ field: 'package_url', from: before, to: expect.stringMatching(/\/b\.zip$/) });
    expect(b[0].to).not.toBe(before);
    expect(b[1]).toEqual({ field: 'memory', from: '512', to: '1024' });
    expect(r.output).toMatch(/Changed settings \(current → new\):\n {2}lambdas\/main\/a\.zip {2}memory: 512 → 1024\n {2}lambdas\/main\/a\.zip {2}env: TOKEN → ADDED, TOKEN \(new value\)/);
    expect(r.output).not.toContain('value-never-shown');
    expect(JSON.stringify(plan)).not.toContain('value-never-shown');
  });

  it('gateway: the package and runtime from the record to this run', async () => {
    const gw: GatewayFake = await startGatewayFake();
    try {
      gw.knownApis.add('dev1');
      const dir = await projectWithPackages(['a.zip']);
      const env = s3Env(w.stack, w.bucket, { CI_PROJECT_DIR: dir, CI_URL: gw.url, ...LAMBDA_VARS });
      expect((await run(['deploy'], env, dir)).code).toBe(0);
      const record = JSON.parse((await w.stack.s3.getObject(w.bucket, 'acme/lambdas/deployments/review/main.json'))?.toString('utf8') ?? '{}');
      await writeFile(join(dir, 'dist/a.zip'), 'PK-a-changed');
      const r = await run(['plan'], { ...env, LAMBDA_RUNTIME: 'python3' }, dir);
      expect(r.code, r.output).toBe(0);
      const plan = JSON.parse(await readFile(join(dir, 'gestalt-plan.json'), 'utf8'));
      expect(plan.functions[0].changes).toEqual([
        { field: 'package', from: `sha256 ${record.functions[0].sha256.slice(0, 12)}…`, to: expect.stringMatching(/^sha256 [0-9a-f]{12}…$/) },
        { field: 'runtime', from: 'nodejs', to: 'python3' },
      ]);
    } finally {
      await gw.close();
    }
  });
});

describe('the environment URL', () => {
  const url = (name: string) => `${GATEWAY}/dev1/lambdas/main/${name}`;

  it('is the first function by name, unless GESTALT_ENVIRONMENT_URL_FUNCTION names one (by function or file name)', async () => {
    const dir = await projectWithPackages();
    const first = await run(['deploy'], metaEnv(dir), dir);
    expect(first.files.env).toContain(`GESTALT_ENVIRONMENT_URL=${url('hello.zip')}\n`);
    const byFile = await run(['deploy'], metaEnv(dir, { GESTALT_ENVIRONMENT_URL_FUNCTION: 'orders.zip' }), dir);
    expect(byFile.files.env).toContain(`GESTALT_ENVIRONMENT_URL=${url('orders.zip')}\n`);
    const byName = await run(['deploy'], metaEnv(dir, { GESTALT_ENVIRONMENT_URL_FUNCTION: 'lambdas/main/users.zip' }), dir);
    expect(byName.files.env).toContain(`GESTALT_ENVIRONMENT_URL=${url('users.zip')}\n`);
    expect(byName.files.json.environmentUrlFunction).toBe('lambdas/main/users.zip');
    // The record was written, so the dotenv names it.
    expect(byName.files.env).toMatch(/^GESTALT_DEPLOYMENT_RECORD=s3:\/\/.*\/acme\/lambdas\/deployments\/review\/main\.json$/m);
  });

  it('is the primary: true function of gestalt-deploy.yml; two primaries are a configuration error', async () => {
    const dir = await projectWithPackages();
    const yml = (primaries: string[]) => ['functions:', ...['hello', 'orders', 'users'].flatMap((n) => [`  - artifact: dist/${n}.zip`, ...(primaries.includes(n) ? ['    primary: true'] : [])])].join('\n');
    await writeFile(join(dir, 'gestalt-deploy.yml'), yml(['users']));
    const r = await run(['deploy'], metaEnv(dir, { LAMBDA_ARTIFACTS: undefined }), dir);
    expect(r.code, r.output).toBe(0);
    expect(r.files.env).toContain(`GESTALT_ENVIRONMENT_URL=${url('users.zip')}\n`);

    await writeFile(join(dir, 'gestalt-deploy.yml'), yml(['orders', 'users']));
    w.meta.clearRequests();
    const two = await run(['plan'], metaEnv(dir, { LAMBDA_ARTIFACTS: undefined }), dir);
    expect(two.code).toBe(2);
    expect(two.output).toMatch(/gestalt-deploy\.yml:3, gestalt-deploy\.yml:5: primary: true marks 2 functions \(lambdas\/main\/orders\.zip, lambdas\/main\/users\.zip\)/);
    expect(w.meta.requests).toEqual([]);
  });
});

describe('upload progress', () => {
  it('a long upload says how far it got, at most every few seconds, then its size and time; a small one only its size and time', { timeout: 60_000 }, async () => {
    const gw: GatewayFake = await startGatewayFake();
    try {
      gw.knownApis.add('dev1');
      const big = Buffer.alloc(48 * 1024 * 1024, 5);
      const dir = await makeProject({ 'dist/big.zip': big, 'dist/small.zip': 'PK-small' });
      // A slow link: S3 takes two seconds to acknowledge each 8 MiB part.
      w.stack.proxy.delayMs = (q) => (q.method === 'PUT' && q.query.includes('partNumber') ? 2000 : 0);
      const r = await run(['deploy'], s3Env(w.stack, w.bucket, { CI_PROJECT_DIR: dir, CI_URL: gw.url, ...LAMBDA_VARS }), dir);
      expect(r.code, r.output).toBe(0);
      const progress = r.output.split('\n').filter((l) => l.includes('uploading '));
      expect(progress.length, r.output).toBeGreaterThanOrEqual(1);
      for (const line of progress) expect(line).toMatch(/^ {2}uploading dist\/big\.zip: \d+\.\d MiB of 48\.0 MiB \(\d{1,2}%\)$/);
      const done = /uploaded dist\/big\.zip \(48\.0 MiB in (\d+\.\d) s, [\d.]+ (KiB|MiB)\/s\)/.exec(r.output);
      expect(done, r.output).not.toBeNull();
      // At most one line per three seconds of upload.
      expect(progress.length).toBeLessThanOrEqual(Math.floor(Number(done?.[1]) / 3));
      expect(r.output).toMatch(/uploaded dist\/small\.zip \(8 B in \d+ ms\)/);
      expect(r.output).not.toMatch(/uploading dist\/small\.zip/);
    } finally {
      w.stack.proxy.delayMs = undefined;
      await gw.close();
    }
  });
});
