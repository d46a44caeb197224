import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { runCaptured } from '../support/loopback.js';
import type { MetaEmulator } from '../support/meta-emulator.js';
import { s3ErrorAnswer } from '../support/recording-proxy.js';
import { assertNoSecrets, CLI_PATH, runCli, type CliResult } from '../support/run-cli.js';
import { metaJobEnv, startMetaWorld } from './meta-setup.js';
import { AWS_SECRET, GF_SECRET, freshBucket, projectWithPackages, startS3Stack, type S3Stack } from './setup.js';

// The first-time mistakes of the README's troubleshooting table, made for real: each row is run, its sentence
// must appear, its exit code must be the one the table gives, and where the run fails nothing may have been
// written to S3, Meta or the deployment lambda. Wherever deploy fails, doctor and plan must fail too, saying the
// same sentence. The table and the cases below are kept one-to-one.

interface Mistake {
  /** Variables changed from a complete meta-mode job. */
  env?: Record<string, string | undefined>;
  /** Sets the project up; may return more variables. */
  prepare?(ctx: Ctx): Promise<Record<string, string | undefined> | void>;
  /** The arguments, deploy by default; or a run of its own. */
  args?: string[];
  run?(ctx: Ctx, env: Record<string, string | undefined>): Promise<CliResult>;
  /** What a failing run may have sent: nothing at all, or reads only (the preflight). */
  sends?: 'nothing' | 'reads';
  /** Also run doctor and plan with the same variables: the same sentence, and non-zero wherever deploy fails. */
  crossCheck?: boolean;
  /** Further assertions of this row. */
  also?(r: CliResult, ctx: Ctx): Promise<void> | void;
}

interface Ctx {
  dir: string;
  cli(args: string[], env: Record<string, string | undefined>): Promise<CliResult>;
}

let stack: S3Stack;
let meta: MetaEmulator;
let gw: GatewayFake;
let envId: string;
let providerId: string;
let bucket: string;
const outputs: CliResult[] = [];

beforeAll(async () => {
  stack = await startS3Stack();
  gw = await startGatewayFake();
  gw.knownApis.add('dev1');
  ({ meta, envId, providerId } = await startMetaWorld(stack));
});
afterAll(async () => {
  await meta.close();
  await gw.close();
  await stack.close();
  const basic = Buffer.from(`gf-key:${GF_SECRET}`).toString('base64');
  assertNoSecrets(outputs.flatMap((o) => [o.output, o.files.env, JSON.stringify(o.files.json ?? {})]), [AWS_SECRET, GF_SECRET, basic]);
});
beforeEach(async () => {
  bucket = await freshBucket(stack);
  stack.proxy.intercept = undefined;
});

function metaEnv(dir: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  return metaJobEnv(stack, { meta, envId, providerId, bucket }, dir, { LAMBDA_ARTIFACTS: 'dist/*.zip', LAMBDA_HANDLER: '{basename}.js;handler', ...extra });
}

const UNKNOWN_ID = '5a1f0f3e-0000-4000-8000-000000000000';
const errorLines = (r: CliResult) => r.output.split('\n').filter((l) => l.startsWith('ERROR:'));

const MISTAKES: Record<string, Mistake> = {
  'required variables left out': {
    env: { LAMBDA_ARTIFACTS: undefined, LAMBDA_API: undefined, LAMBDA_ENVIRONMENT_ID: undefined, GESTALT_LAMBDA_PROVIDER_ID: undefined },
    sends: 'nothing',
    crossCheck: true,
    also(r) {
      for (const v of ['LAMBDA_ARTIFACTS', 'LAMBDA_API', 'LAMBDA_ENVIRONMENT_ID', 'GESTALT_LAMBDA_PROVIDER_ID']) expect(r.output).toContain(`- ${v}: is not set`);
      // A configuration error still leaves the report, saying why; the dotenv names nothing that was not written.
      expect(r.files.json).toMatchObject({ command: 'deploy', status: 'invalid' });
      expect(r.files.json.problems.map((p: { variable: string }) => p.variable).sort()).toEqual(['GESTALT_LAMBDA_PROVIDER_ID', 'LAMBDA_API', 'LAMBDA_ARTIFACTS', 'LAMBDA_ENVIRONMENT_ID']);
      expect(r.files.env).toContain('GESTALT_DEPLOY_STATUS=invalid\n');
      expect(r.files.env).not.toContain('GESTALT_DEPLOYMENT_RECORD');
    },
  },
  'an environment id that is not in the org': { env: { LAMBDA_ENVIRONMENT_ID: '6b2f0f3e-0000-4000-8000-000000000000' }, sends: 'reads', crossCheck: true },
  'an API that does not exist': { env: { LAMBDA_API: 'nope' }, sends: 'reads', crossCheck: true },
  'a provider id of no Lambda provider': {
    env: { GESTALT_LAMBDA_PROVIDER_ID: UNKNOWN_ID },
    sends: 'reads',
    crossCheck: true,
    also(r) {
      // Found before the uploads, once; the dotenv names no record, since none was written.
      expect(errorLines(r)).toHaveLength(1);
      expect(r.output).not.toMatch(/uploaded /);
      expect(r.files.json.status).toBe('failed');
      expect(r.files.env).not.toContain('GESTALT_DEPLOYMENT_RECORD');
    },
  },
  'a bucket that does not exist': {
    env: { S3_BUCKET_NAME: 'no-such-bucket-here' },
    sends: 'reads',
    crossCheck: true,
    also(r) {
      // One sentence for the cause, not one per function (the project has three).
      expect(errorLines(r)).toHaveLength(1);
    },
  },
  'a misspelt variable (`LAMBDA_MEMMORY`)': {
    env: { LAMBDA_MEMMORY: '1024' },
    crossCheck: true,
    also(r) {
      // Beside the configuration's own warnings (here: the stand-in's plain http:// URL).
      expect(r.files.json.warnings.filter((w: string) => /gestalt-deploy variable/.test(w))).toEqual([expect.stringMatching(/^LAMBDA_MEMMORY is not a gestalt-deploy variable/)]);
    },
  },
  'a misspelt variable (`GESTALT_PACKAGE_ACESS`)': { env: { GESTALT_PACKAGE_ACESS: 'presigned' }, crossCheck: true },
  'no AWS credentials at all': {
    async prepare() {
      return { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, HOME: await mkdtemp(join(tmpdir(), 'no-aws-home-')) };
    },
    sends: 'reads',
    crossCheck: true,
    also(r) {
      expect(r.output).toMatch(/configuration error \(1 problem\); nothing was changed/);
      expect(r.output).not.toMatch(/CredentialsProviderError|Could not load credentials/);
      expect(r.files.json.status).toBe('invalid');
    },
  },
  'an S3 endpoint nothing listens on': { env: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', GESTALT_RETRY_ATTEMPTS: '1' }, sends: 'reads', crossCheck: true },
  'a Meta URL with an extra path (`…/meta`)': {
    async prepare() {
      return { GESTALT_META_URL: `${meta.url}/meta` };
    },
    sends: 'reads',
    crossCheck: true,
    also(r) {
      expect(r.output).not.toMatch(/GESTALT_ORG/);
      expect(r.output).toMatch(/probably without the path '\/meta'/);
    },
  },
  'an org FQON that does not exist': { env: { GESTALT_ORG: 'nosuch' }, sends: 'reads', crossCheck: true },
  'archives without a handler (meta mode)': { env: { LAMBDA_HANDLER: undefined }, sends: 'nothing', crossCheck: true },
  'archives in gateway mode': {
    env: { GESTALT_META_URL: undefined, GESTALT_ORG: undefined, GESTALT_LAMBDA_PROVIDER_ID: undefined, GF_API_KEY: undefined, GF_API_SECRET: undefined, LAMBDA_HANDLER: undefined },
    async prepare() {
      return { CI_URL: gw.url };
    },
    also(r) {
      // One warning for all three archives, not one per function.
      expect(r.output.split('\n').filter((l) => /decides handler and compression/.test(l))).toHaveLength(1);
    },
  },
  'artifact patterns separated by commas': {
    env: { LAMBDA_ARTIFACTS: 'dist/hello.zip,dist/orders.zip' },
    sends: 'nothing',
    crossCheck: true,
    also(r) {
      expect(r.output).toContain('write "dist/hello.zip dist/orders.zip"');
      expect(r.output).not.toMatch(/matches no file/);
    },
  },
  'a functions file with several mistakes': {
    env: { LAMBDA_ARTIFACTS: undefined },
    async prepare(ctx) {
      await writeFile(join(ctx.dir, 'gestalt-deploy.yml'), ['functions:', '  - artifact: dist/hello.zip', '    memroy: 256', '    timeout: soon', '  - artifact: build/missing.zip', '    handler: x.js'].join('\n'));
    },
    sends: 'nothing',
    crossCheck: true,
    also(r) {
      // The unknown key, the wrong type and the unmatched artifact: all in one run.
      expect(r.output).toMatch(/gestalt-deploy\.yml:4: timeout: must be a positive whole number/);
      expect(r.output).toMatch(/gestalt-deploy\.yml:5: pattern 'build\/missing\.zip' matches no file/);
      expect(r.output).toMatch(/configuration error \(3 problems\)/);
    },
  },
  'an environment URL function that is not deployed': { env: { GESTALT_ENVIRONMENT_URL_FUNCTION: 'nothing.zip' }, sends: 'nothing', crossCheck: true },
  'private packages without a bucket policy for Gestalt': {
    async run(ctx, env) {
      const first = await ctx.cli(['deploy'], env);
      expect(first.code, first.output).toBe(0);
      // What real S3 answers an anonymous request for an object of a private bucket.
      stack.proxy.intercept = (req) => (req.accessKeyId ? undefined : s3ErrorAnswer(403, 'AccessDenied', 'Access Denied'));
      return ctx.cli(['doctor'], env);
    },
    async also(r, ctx) {
      expect(r.output).toMatch(/\[warn\] an anonymous HEAD of http:\/\/127\.0\.0\.1:\d+\/b-[\w-]+\/acme\/lambdas\/packages\/[0-9a-f]{64}\/\w+\.zip answered 403/);
      const report = JSON.parse(await readFile(join(ctx.dir, 'gestalt-doctor.json'), 'utf8'));
      expect(report.checks).toContainEqual({ status: 'warn', text: expect.stringMatching(/^an anonymous HEAD of .* answered 403/) });
    },
  },
  '`deploy --dry-run`': { args: ['deploy', '--dry-run'], sends: 'nothing' },
  'no command': { args: [], sends: 'nothing' },
  'a misspelt command (`deplyo`)': { args: ['deplyo'], sends: 'nothing' },
  '`deploy --help`, `help deploy`': {
    args: ['deploy', '--help'],
    sends: 'nothing',
    async also(r, ctx) {
      const viaHelp = await ctx.cli(['help', 'deploy'], {});
      expect(viaHelp.code).toBe(0);
      expect(viaHelp.stdout).toBe(r.stdout);
      expect(r.stdout).toMatch(/Needs: +LAMBDA_ARTIFACTS/);
    },
  },
  '`plan \\| head -1`': {
    async run(ctx, env) {
      // A shell pipeline, as a user types it: head exits after one line and closes the pipe.
      const vars: Record<string, string> = {};
      for (const [k, v] of Object.entries(env)) if (v !== undefined) vars[k] = v;
      const r = await runCaptured('/bin/sh', ['-c', `"${process.execPath}" "${CLI_PATH}" plan | head -1`], { cwd: ctx.dir, env: vars, timeoutMs: 60_000 });
      return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr, output: r.output, files: {} };
    },
    async also(r, ctx) {
      expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
      expect(r.stderr).not.toMatch(/EPIPE|Error|\bat /);
      // The plan itself went on to the end and wrote its report.
      const plan = JSON.parse(await readFile(join(ctx.dir, 'gestalt-plan.json'), 'utf8'));
      expect(plan.functions).toHaveLength(3);
    },
  },
};

interface Row {
  mistake: string;
  message: string | undefined;
  exit: number;
}

async function readmeRows(): Promise<Row[]> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const block = readme.split('<!-- mistakes:start -->')[1]?.split('<!-- mistakes:end -->')[0] ?? '';
  return block
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| mistake'))
    .map((l) => l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim()))
    .map(([mistake = '', seen = '', exit = '']) => ({ mistake, message: /^`(.*)`$/.exec(seen)?.[1], exit: Number(exit) }));
}

/** The table's message as a pattern: `…` stands for any text. */
function pattern(message: string): RegExp {
  return new RegExp(message.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*?'));
}

const rows = await readmeRows();

describe("the README's first-time mistakes", () => {
  it('lists exactly the mistakes tested here', () => {
    expect(rows.map((r) => r.mistake)).toEqual(Object.keys(MISTAKES));
    for (const r of rows) expect(Number.isInteger(r.exit), r.mistake).toBe(true);
  });

  it.each(rows)('$mistake', { timeout: 90_000 }, async (row) => {
    const mistake = MISTAKES[row.mistake] as Mistake;
    const dir = await projectWithPackages();
    const ctx: Ctx = {
      dir,
      async cli(args, env) {
        const r = await runCli(args, { env, cwd: dir });
        outputs.push(r);
        return r;
      },
    };
    const env = { ...metaEnv(dir), ...mistake.env, ...(await mistake.prepare?.(ctx)) };
    const before = mark();
    const r = mistake.run ? await mistake.run(ctx, env) : await ctx.cli(mistake.args ?? ['deploy'], env);
    if (row.message !== undefined) expect(r.output).toMatch(pattern(row.message));
    expect(r.code, r.output).toBe(row.exit);
    expect(r.output).not.toMatch(/\n\s+at /);
    if (mistake.sends) expectSent(before, mistake.sends);
    await mistake.also?.(r, ctx);

    if (mistake.crossCheck) {
      for (const command of ['doctor', 'plan']) {
        const other = await ctx.cli([command], env);
        if (row.message !== undefined) expect(other.output, `${command}:\n${other.output}`).toMatch(pattern(row.message));
        expect(other.code, `${command} exits as deploy does:\n${other.output}`).toBe(row.exit);
      }
    }
  });
});

function mark() {
  return { s3: stack.proxy.requests.length, meta: meta.requests.length, gw: gw.requests.length };
}

function expectSent(before: ReturnType<typeof mark>, sends: 'nothing' | 'reads'): void {
  const s3 = stack.proxy.requests.slice(before.s3);
  const metaCalls = meta.requests.slice(before.meta);
  expect(gw.requests.slice(before.gw), 'no deployment lambda call').toEqual([]);
  expect(s3.filter((q) => q.method !== 'GET' && q.method !== 'HEAD'), 'no S3 write').toEqual([]);
  expect(metaCalls.filter((q) => q.method !== 'GET'), 'no Meta write').toEqual([]);
  if (sends === 'nothing') {
    expect(s3, 'no S3 request at all').toEqual([]);
    expect(metaCalls, 'no Meta request at all').toEqual([]);
  }
}
