// Every example in examples/ runs for real: gitlab-ci-local interprets the example's .gitlab-ci.yml, which
// `include: remote:`s the template from a loopback server; its jobs run on this machine with the built runner on
// PATH as `gestalt-deploy`, against the local stack (S3, Gestalt Meta or the deployment lambda, OIDC + STS).
// Assertions are on real state: objects in S3, functions in Gestalt, requests received, files, exit codes.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startRecordingProxy } from '../support/recording-proxy.js';
import { assertNoSecrets } from '../support/run-cli.js';
import { AWS_STATIC_KEY_ID, AWS_STATIC_SECRET, EXAMPLE, GF_API_KEY, GF_API_SECRET, startStack } from '../support/stack.js';
import type { LocalStack } from '../support/stack.js';
import { SAMPLE_SOURCES, commitAll, gcl, jobResults, makeBinDir, makeExampleRepo, removeCheckoutOutputs, removeDir, writeFiles } from '../support/stack-pipeline.js';
import type { GclResult } from '../support/stack-pipeline.js';

// Tests read report and record fields directly.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const EXAMPLES = ['review-environments', 'production', 'merge-request-plan', 'cross-account', 'function-groups', 'gateway-migration', 'component', 'promote-verify', 'scheduled-prune'];
/**
 * Examples that include the CI/CD component: gitlab-ci-local fetches a component of another project with git from
 * the project's own host, so makeExampleRepo seeds its include cache and these run without --fetch-includes.
 */
const COMPONENT_EXAMPLES = new Set(['component']);

let stack: LocalStack;
let bin: string;
const dirs: string[] = [];

beforeAll(async () => {
  stack = await startStack();
  bin = await makeBinDir();
});

afterAll(async () => {
  await stack?.close();
  // GESTALT_KEEP_PIPELINES=1 keeps the project dirs (and gitlab-ci-local's state in them) for a post-mortem.
  if (process.env.GESTALT_KEEP_PIPELINES) process.stderr.write(`kept: ${dirs.join(' ')}\n`);
  else await Promise.all([bin, ...dirs].map((d) => removeDir(d)));
});

interface Project {
  name: string;
  dir: string;
  /** Function names in Gestalt Meta that belong to this project. */
  metaLambdas(): Json[];
  metaEndpoints(): Json[];
  s3Keys(sub?: string): Promise<string[]>;
  record(environment: string): Promise<Json | undefined>;
  run(args: string[], variables?: Record<string, string>): Promise<GclResult>;
  /** What a stop job with GIT_STRATEGY: none would find: no packages, no reports from an earlier job. */
  removeCheckoutOutputs(): Promise<void>;
}

async function exampleProject(name: string, opts: { branch?: string; files: Record<string, string>; mode?: 'meta' | 'gateway'; aws?: 'oidc' | 'static'; settings?: (s: Record<string, string>) => void }): Promise<Project> {
  const settings = stack.settings(opts.mode ?? 'meta', opts.aws ?? 'oidc');
  opts.settings?.(settings);
  const dir = await makeExampleRepo({ example: name, templateUrl: stack.templates.templateUrl, files: opts.files, variables: settings, ...(opts.branch ? { branch: opts.branch } : {}) });
  dirs.push(dir);
  // Function and endpoint names start with the project name (CI_PROJECT_NAME, the example's name).
  const mine = (doc: Json) => typeof doc.name === 'string' && doc.name.startsWith(`${name}/`);
  return {
    name,
    dir,
    metaLambdas: () => stack.meta.lambdas().filter(mine),
    metaEndpoints: () => stack.meta.endpoints().filter(mine),
    s3Keys: (sub = '') => stack.s3.listKeys(stack.bucket, `acme/${name}/${sub}`),
    async record(environment) {
      const body = await stack.s3.getObject(stack.bucket, `acme/${name}/deployments/${environment}.json`);
      return body ? JSON.parse(body.toString('utf8')) : undefined;
    },
    run: (args, variables = {}) => gcl(dir, args, { bin, variables, fetchIncludes: !COMPONENT_EXAMPLES.has(name) }),
    removeCheckoutOutputs: () => removeCheckoutOutputs(dir),
  };
}

function expectJobs(result: GclResult, passed: string[], notRun: string[] = []): void {
  const jobs = jobResults(result.output);
  const context = `gitlab-ci-local output:\n${result.output}`;
  expect(jobs.failed, context).toEqual([]);
  expect(result.code, context).toBe(0);
  expect(jobs.passed.sort(), context).toEqual([...passed].sort());
  for (const job of notRun) expect(result.output, context).not.toMatch(jobLine(job, 'starting'));
}

/** gitlab-ci-local's line for a job's start or end; it pads job names to the longest one in the pipeline. */
function jobLine(job: string, what: 'starting' | 'finished'): RegExp {
  return new RegExp(`^${job.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+${what} `, 'm');
}

/**
 * GESTALT_ENVIRONMENT_URL from the dotenv report the deploy job left (gitlab-ci-local expands environment:url
 * before the job runs, so its own summary line cannot show the dotenv value; GitLab's environment page does).
 */
async function dotenvUrl(dir: string, job: string): Promise<string | undefined> {
  // Where gitlab-ci-local keeps a job's artifacts:reports:dotenv, i.e. what GitLab would have received.
  const text = await readFile(join(dir, '.gitlab-ci-local/artifacts', job, '.gitlab-ci-reports/dotenv/gestalt-deploy.env'), 'utf8');
  return /^GESTALT_ENVIRONMENT_URL=(.*)$/m.exec(text)?.[1];
}

async function readJson(path: string): Promise<Json> {
  return JSON.parse(await readFile(path, 'utf8'));
}

const sources = SAMPLE_SOURCES as { 'src/hello.js': string; 'src/goodbye.js': string };

// Each test runs two to four pipelines; on a busy 2-core machine that can take a while.
describe('examples run green in gitlab-ci-local, and their stop jobs leave nothing behind', { timeout: 180_000 }, () => {
  it('review-environments: a branch deploys review/<branch>, the URL reaches the next job, stop (no checkout) removes it all', async () => {
    const p = await exampleProject('review-environments', { branch: 'feature/login', files: sources });
    const token = await stack.idToken({ projectPath: 'acme/review-environments', ref: 'feature/login' });
    const hitsBefore = stack.endpoints.hits.length;

    const pipeline = await p.run([], { GESTALT_ID_TOKEN: token });
    expectJobs(pipeline, ['build', 'deploy_review', 'smoke_review'], ['stop_review']);

    // Gestalt has one function and one endpoint per package, named project/ref/file.
    const names = p.metaLambdas().map((l) => l.name).sort();
    expect(names).toEqual(['review-environments/feature-login/goodbye.zip', 'review-environments/feature-login/hello.zip']);
    expect(p.metaEndpoints()).toHaveLength(2);
    // Packages are content-addressed; the record says what review/feature-login holds.
    const packages = await p.s3Keys('packages/');
    expect(packages).toHaveLength(2);
    const record = await p.record('review/feature-login');
    expect(record.functions.map((f: Json) => f.name).sort()).toEqual(names);
    expect(packages.sort()).toEqual(record.functions.map((f: Json) => f.packageKey).sort());
    // Credentials came from the ID token through STS, for the role the example names.
    expect(stack.sts.requests.some((r) => r.action === 'AssumeRoleWithWebIdentity' && r.roleArn === EXAMPLE.deployRole && r.status === 200)).toBe(true);

    // The dotenv report carried GESTALT_ENVIRONMENT_URL to GitLab (environment:url) and to smoke_review.
    const url = await dotenvUrl(p.dir, 'deploy_review');
    expect(url).toMatch(new RegExp(`^${stack.endpoints.url}/lambdas/`));
    const smoked = stack.endpoints.hits.slice(hitsBefore);
    expect(smoked).toEqual([{ method: 'GET', path: new URL(url as string).pathname }]);
    expect(pipeline.output).toMatch(/^smoke_review\s+> \{"ok":true/m);
    const report = await readJson(join(p.dir, 'gestalt-deploy.json'));
    expect(report.environmentUrl).toBe(url);
    assertNoSecrets([pipeline.output], [GF_API_SECRET, token]);

    // The Stop button / branch deletion: the manual stop job alone, with nothing from the checkout.
    await p.removeCheckoutOutputs();
    const stop = await p.run(['stop_review'], { GESTALT_ID_TOKEN: token });
    expectJobs(stop, ['stop_review']);
    expect(p.metaLambdas()).toEqual([]);
    expect(p.metaEndpoints()).toEqual([]);
    expect(await p.record('review/feature-login')).toBeUndefined();
    expect(await p.s3Keys('deployments/')).toEqual([]);
    expect(existsSync(join(p.dir, 'dist')), 'the stop job built nothing').toBe(false);
    assertNoSecrets([stop.output], [GF_API_SECRET, token]);
  });

  it('production: the default branch offers a manual deploy (own commands kept with !reference); stop decommissions it', async () => {
    const p = await exampleProject('production', { files: sources });
    const token = await stack.idToken({ projectPath: 'acme/production', ref: 'main' });

    const pushed = await p.run([], { GESTALT_ID_TOKEN: token });
    expectJobs(pushed, ['build'], ['deploy_production', 'stop_production']);
    expect(p.metaLambdas(), 'nothing deploys until someone starts the job').toEqual([]);

    // Production's role trusts the default branch only: a token from another branch gets nothing, and the job fails.
    const branchToken = await stack.idToken({ projectPath: 'acme/production', ref: 'feature/sneaky' });
    const refused = await p.run(['deploy_production'], { GESTALT_ID_TOKEN: branchToken });
    expect(refused.code, refused.output).not.toBe(0);
    expect(jobResults(refused.output).failed).toEqual(['deploy_production']);
    expect(refused.output).toMatch(/AssumeRoleWithWebIdentity for arn:aws:iam::123456789012:role\/gitlab-gestalt-production was denied/);
    expect(p.metaLambdas()).toEqual([]);

    const deployed = await p.run(['--manual', 'deploy_production'], { GESTALT_ID_TOKEN: token });
    expectJobs(deployed, ['build', 'deploy_production'], ['stop_production']);
    expect(deployed.output).toMatch(/^deploy_production\s+> Deploying [0-9a-f]{8} to production$/m);
    expect(p.metaLambdas().map((l) => l.name).sort()).toEqual(['production/main/goodbye.zip', 'production/main/hello.zip']);
    expect((await p.record('production')).functions).toHaveLength(2);
    expect(p.metaEndpoints()).toHaveLength(2);
    expect(stack.sts.requests.some((r) => r.roleArn === EXAMPLE.productionRole && r.status === 200)).toBe(true);

    await p.removeCheckoutOutputs();
    const stop = await p.run(['stop_production'], { GESTALT_ID_TOKEN: token });
    expectJobs(stop, ['stop_production']);
    expect(p.metaLambdas()).toEqual([]);
    expect(p.metaEndpoints()).toEqual([]);
    expect(await p.s3Keys('deployments/')).toEqual([]);
  });

  it('merge-request-plan: a merge request plans against production without writing; merging deploys; stop removes', async () => {
    const p = await exampleProject('merge-request-plan', { files: sources });
    const mainToken = await stack.idToken({ projectPath: 'acme/merge-request-plan', ref: 'main' });

    const merged = await p.run([], { GESTALT_ID_TOKEN: mainToken });
    expectJobs(merged, ['build', 'deploy_production'], ['plan_production', 'stop_production']);
    expect(p.metaLambdas().map((l) => l.name).sort()).toEqual(['merge-request-plan/production/goodbye.zip', 'merge-request-plan/production/hello.zip']);
    expect(p.metaEndpoints()).toHaveLength(2);

    // A merge request changes one function and adds another.
    await writeFiles(p.dir, { 'src/hello.js': 'exports.handler = async () => ({ statusCode: 200, body: "hello v2" });\n', 'src/extra.js': 'exports.handler = async () => ({});\n' });
    await commitAll(p.dir, 'change hello, add extra');
    execFileSync('git', ['checkout', '-q', '-b', 'feature/extra'], { cwd: p.dir });
    const mrToken = await stack.idToken({ projectPath: 'acme/merge-request-plan', ref: 'feature/extra' });
    const keysBefore = await p.s3Keys();
    const lambdasBefore = JSON.stringify(p.metaLambdas());
    const metaSeen = stack.meta.requests.length;

    const mr = await p.run([], { GESTALT_ID_TOKEN: mrToken, CI_PIPELINE_SOURCE: 'merge_request_event' });
    expectJobs(mr, ['build', 'plan_production'], ['deploy_production']);
    const plan = await readJson(join(p.dir, 'gestalt-plan.json'));
    expect(plan.command).toBe('plan');
    expect(plan.environment).toBe('production');
    const byName = Object.fromEntries(plan.functions.map((f: Json) => [f.name, f]));
    expect(Object.keys(byName).sort()).toEqual(['merge-request-plan/production/extra.zip', 'merge-request-plan/production/goodbye.zip', 'merge-request-plan/production/hello.zip']);
    expect(byName['merge-request-plan/production/extra.zip'].action).toBe('create');
    expect(byName['merge-request-plan/production/extra.zip'].upload).toBe('would upload');
    expect(byName['merge-request-plan/production/hello.zip'].upload).toBe('would upload');
    expect(byName['merge-request-plan/production/goodbye.zip'].upload).toBe('would skip');
    expect(mr.output).toContain('nothing was changed');
    // Nothing was written anywhere.
    expect(await p.s3Keys()).toEqual(keysBefore);
    expect(JSON.stringify(p.metaLambdas())).toBe(lambdasBefore);
    expect(stack.meta.requests.slice(metaSeen).filter((r) => r.method !== 'GET')).toEqual([]);

    execFileSync('git', ['checkout', '-q', 'main'], { cwd: p.dir });
    await p.removeCheckoutOutputs();
    const stop = await p.run(['stop_production'], { GESTALT_ID_TOKEN: mainToken });
    expectJobs(stop, ['stop_production']);
    expect(p.metaLambdas()).toEqual([]);
    expect(p.metaEndpoints()).toEqual([]);
    expect(await p.s3Keys('deployments/')).toEqual([]);
  });

  it('cross-account: the ID token (audience from the include input) reaches the hub role, which chains to the target role', async () => {
    const p = await exampleProject('cross-account', { files: sources });
    const preview = await p.run(['--preview']);
    expect(preview.code, preview.output).toBe(0);
    expect(parse(preview.stdout.slice(preview.stdout.indexOf('---\n'))).deploy_staging.id_tokens.GESTALT_ID_TOKEN.aud).toBe(EXAMPLE.hubAudience);
    // gitlab-ci-local does not mint ID tokens: mint the one GitLab would, with the audience the template asked for.
    const token = await stack.idToken({ projectPath: 'acme/cross-account', ref: 'main', aud: EXAMPLE.hubAudience });
    const stsSeen = stack.sts.requests.length;

    const pipeline = await p.run([], { GESTALT_ID_TOKEN: token });
    expectJobs(pipeline, ['build', 'deploy_staging'], ['stop_staging']);
    const calls = stack.sts.requests.slice(stsSeen).map((r) => [r.action, r.roleArn, r.status]);
    expect(calls).toEqual([
      ['AssumeRoleWithWebIdentity', EXAMPLE.hubRole, 200],
      ['AssumeRole', EXAMPLE.targetRole, 200],
    ]);
    expect(p.metaLambdas()).toHaveLength(2);
    expect(p.metaEndpoints()).toHaveLength(2);
    expect(pipeline.output).toContain(EXAMPLE.targetRole.split('/')[1]);

    await p.removeCheckoutOutputs();
    const stop = await p.run(['stop_staging'], { GESTALT_ID_TOKEN: token });
    expectJobs(stop, ['stop_staging']);
    expect(stack.sts.requests.slice(stsSeen).filter((r) => r.action === 'AssumeRole' && r.status === 200)).toHaveLength(2);
    expect(p.metaLambdas()).toEqual([]);
    expect(p.metaEndpoints()).toEqual([]);
    expect(await p.s3Keys('deployments/')).toEqual([]);
  });

  it('function-groups: parallel:matrix deploys each group with its runtime to its own environment; groups stop one at a time', async () => {
    const p = await exampleProject('function-groups', {
      files: {
        'src/api/handler.js': 'exports.handler = async () => ({ body: "api" });\n',
        'src/api/users.js': 'exports.handler = async () => ({ body: "users" });\n',
        'src/workers/handler.py': 'def handler(event, context):\n    return "worker"\n',
      },
    });
    const token = await stack.idToken({ projectPath: 'acme/function-groups', ref: 'main' });

    const pipeline = await p.run([], { GESTALT_ID_TOKEN: token });
    expectJobs(pipeline, ['build', 'deploy_functions: [api,nodejs,{basename}.js;handler]', 'deploy_functions: [workers,python3,{basename}.py;handler]'], ['stop_functions']);
    const runtimes = Object.fromEntries(p.metaLambdas().map((l) => [l.name, l.properties.runtime]));
    const api = (await p.record('staging/api')).functions.map((f: Json) => f.name).sort();
    const workers = (await p.record('staging/workers')).functions.map((f: Json) => f.name);
    expect(api).toHaveLength(2);
    expect(workers).toHaveLength(1);
    // Both groups have a handler.zip; the environment in the name keeps them apart.
    expect(new Set([...api, ...workers]).size).toBe(3);
    for (const n of api) expect(runtimes[n]).toBe('nodejs');
    expect(runtimes[workers[0]]).toBe('python3');
    expect(p.metaEndpoints()).toHaveLength(3);

    await p.removeCheckoutOutputs();
    const one = await p.run(['stop_functions: [workers]'], { GESTALT_ID_TOKEN: token });
    expectJobs(one, ['stop_functions: [workers]']);
    expect(p.metaLambdas().map((l) => l.name).sort()).toEqual(api);
    expect(await p.record('staging/workers')).toBeUndefined();

    const all = await p.run(['stop_functions'], { GESTALT_ID_TOKEN: token });
    expectJobs(all, ['stop_functions: [api]', 'stop_functions: [workers]']);
    expect(p.metaLambdas()).toEqual([]);
    expect(p.metaEndpoints()).toEqual([]);
    expect(await p.s3Keys('deployments/')).toEqual([]);
  });

  it('component: the component included by version deploys a review environment with its inputs; stop removes it', async () => {
    const p = await exampleProject('component', { branch: 'feature/catalog', files: sources });
    const token = await stack.idToken({ projectPath: 'acme/component', ref: 'feature/catalog' });

    const preview = await p.run(['--preview']);
    expect(preview.code, preview.output).toBe(0);
    const merged = parse(preview.stdout.slice(preview.stdout.indexOf('---\n')));
    expect(merged.deploy_review.environment).toMatchObject({ name: 'review/$CI_COMMIT_REF_SLUG', auto_stop_in: '1 week', url: '$GESTALT_ENVIRONMENT_URL' });
    expect(merged.deploy_production.environment).toMatchObject({ deployment_tier: 'production', auto_stop_in: 'never' });
    expect(merged.stop_review.resource_group).toBe('lambdas/$CI_ENVIRONMENT_NAME');

    const hitsBefore = stack.endpoints.hits.length;
    const pipeline = await p.run([], { GESTALT_ID_TOKEN: token });
    expectJobs(pipeline, ['build', 'deploy_review', 'verify_review'], ['stop_review', 'deploy_production']);
    expect(p.metaLambdas().map((l) => l.name).sort()).toEqual(['component/feature-catalog/goodbye.zip', 'component/feature-catalog/hello.zip']);
    // verify_review called both endpoints and says so in its report.
    expect(stack.endpoints.hits.length - hitsBefore).toBeGreaterThanOrEqual(2);
    const verified = await readJson(join(p.dir, 'gestalt-verify.json'));
    expect(verified.checks.map((c: Json) => [c.name, c.ok]).sort()).toEqual([['component/feature-catalog/goodbye.zip', true], ['component/feature-catalog/hello.zip', true]]);
    expect(p.metaEndpoints()).toHaveLength(2);
    expect((await p.record('review/feature-catalog')).functions).toHaveLength(2);
    expect(await dotenvUrl(p.dir, 'deploy_review')).toMatch(new RegExp(`^${stack.endpoints.url}/lambdas/`));

    await p.removeCheckoutOutputs();
    const stop = await p.run(['stop_review'], { GESTALT_ID_TOKEN: token });
    expectJobs(stop, ['stop_review']);
    expect(p.metaLambdas()).toEqual([]);
    expect(p.metaEndpoints()).toEqual([]);
    expect(await p.s3Keys('deployments/')).toEqual([]);
  });

  it('gateway-migration: the original variables and settings deploy through the deployment lambda; stop removes', async () => {
    const p = await exampleProject('gateway-migration', {
      branch: 'feature-x',
      files: { 'hello.js': sources['src/hello.js'], 'goodbye.js': sources['src/goodbye.js'] },
      mode: 'gateway',
      aws: 'static',
      settings: (s) => {
        // The original integration's region variable.
        s.AWS_DEFAULT_REGION = s.AWS_REGION as string;
        delete s.AWS_REGION;
      },
    });
    const seen = stack.gateway.requests.length;

    const pipeline = await p.run([]);
    expectJobs(pipeline, ['deploy_review'], ['stop_review']);
    const mine = [...stack.gateway.lambdas().entries()].filter(([n]) => n.startsWith('gateway-migration/'));
    expect(mine.map(([n]) => n).sort()).toEqual(['gateway-migration/feature-x/goodbye.js', 'gateway-migration/feature-x/hello.js']);
    const requests = stack.gateway.requests.slice(seen);
    for (const r of requests) expect(r.authorization).toEqual({ key: GF_API_KEY, secret: GF_API_SECRET });
    for (const [, payload] of mine) {
      expect(payload).toMatchObject({ runtime: 'nodejs', api: EXAMPLE.gatewayApi, env_id: EXAMPLE.environmentId, project: 'gateway-migration', git_ref: 'feature-x' });
      expect(payload.lambda_url).toContain(`/${stack.bucket}/acme/gateway-migration/packages/`);
    }
    expect(await dotenvUrl(p.dir, 'deploy_review')).toMatch(new RegExp(`^${stack.endpoints.url}/dev1/`));
    assertNoSecrets([pipeline.output], [GF_API_SECRET, AWS_STATIC_SECRET, AWS_STATIC_KEY_ID]);

    await p.removeCheckoutOutputs();
    await rm(join(p.dir, 'hello.js'));
    await rm(join(p.dir, 'goodbye.js'));
    const stop = await p.run(['stop_review']);
    expectJobs(stop, ['stop_review']);
    expect([...stack.gateway.lambdas().keys()].filter((n) => n.startsWith('gateway-migration/'))).toEqual([]);
    expect(stack.gateway.requests.slice(seen).filter((r) => r.body?.action === 'stop')).toHaveLength(2);
    expect(await p.s3Keys('deployments/')).toEqual([]);
    assertNoSecrets([stop.output], [GF_API_SECRET, AWS_STATIC_SECRET]);
  });
});

/** The lambda settings a promotion must carry over unchanged (everything but the name). */
const PROMOTED_SETTINGS = ['package_url', 'handler', 'runtime', 'memory', 'cpus', 'timeout', 'env', 'compressed', 'public', 'headers'] as const;

function settingsByFile(lambdas: Json[]): Record<string, Json> {
  const pick = (l: Json) => Object.fromEntries(PROMOTED_SETTINGS.map((k) => [k, l.properties[k]]));
  return Object.fromEntries(lambdas.map((l) => [String(l.name).split('/').at(-1), pick(l)]));
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('promote-verify: build once, promote the reviewed bytes, verify with automatic rollback', { timeout: 420_000 }, () => {
  it('staging deploys and verifies; promote gives production the same packages and settings with no upload; a failed verify rolls back; stop leaves nothing', async () => {
    // Every S3 request of the pipeline passes a recording proxy, which notes the access key that signed it: the
    // production jobs' keys are the ones STS issued for the production role, so their uploads can be counted.
    const s3 = await startRecordingProxy(stack.s3.endpoint);
    try {
      const p = await exampleProject('promote-verify', { files: sources, settings: (s) => (s.AWS_ENDPOINT_URL_S3 = s3.url) });
      const token = await stack.idToken({ projectPath: 'acme/promote-verify', ref: 'main' });
      const lambdasOf = (env: string) => p.metaLambdas().filter((l) => String(l.name).startsWith(`promote-verify/${env}/`));
      const signedBy = (role: string) => new Set(stack.sts.issued.filter((c) => c.roleArn === role).map((c) => c.accessKeyId));
      const packagePuts = (from: number, role: string) => s3.requests.slice(from).filter((r) => r.method === 'PUT' && r.path.includes('/packages/') && signedBy(role).has(r.accessKeyId ?? ''));
      const historyOf = async (env: string): Promise<Json> => JSON.parse((await stack.s3.getObject(stack.bucket, `acme/promote-verify/deployments/${env}.history.json`))?.toString('utf8') ?? 'null');
      const checksOf = async () => Object.fromEntries((await readJson(join(p.dir, 'gestalt-verify.json'))).checks.map((c: Json) => [String(c.name).split('/').slice(1).join('/'), c.ok]));
      // The endpoints' public_url points at the stack's endpoint server on 127.0.0.1: verify's calls land there.
      const productionHits = () => stack.endpoints.hits.filter((h) => h.path.includes('/promote-verify/production/'));
      // GitLab starts verify_production once someone has started promote_production (it `needs:` it).
      // gitlab-ci-local refuses a pipeline in which an automatic job needs a manual job it was not told to start,
      // so each pipeline below is the one in which the manual promotion was started (--manual).
      const promotingPipeline = (variables: Record<string, string> = {}) => p.run(['--manual', 'promote_production'], { GESTALT_ID_TOKEN: token, ...variables });
      const everyPipelineJob = ['build', 'deploy_staging', 'verify_staging', 'promote_production', 'verify_production'];
      const manualOnly = ['rollback_production', 'stop_staging', 'stop_production'];

      // 1. A push to the default branch, promoted: staging is deployed and verified, then production gets
      // exactly staging's packages and settings without an upload, and is verified.
      let seen = s3.requests.length;
      const first = await promotingPipeline();
      expectJobs(first, everyPipelineJob, manualOnly);
      const stagingVerified = first.output.search(jobLine('verify_staging', 'finished'));
      expect(stagingVerified).toBeGreaterThan(0);
      expect(first.output.search(jobLine('promote_production', 'starting')), 'promotion after staging is verified').toBeGreaterThan(stagingVerified);
      expect(lambdasOf('staging').map((l) => l.name).sort()).toEqual(['promote-verify/staging/goodbye.zip', 'promote-verify/staging/hello.zip']);
      expect(lambdasOf('production').map((l) => l.name).sort()).toEqual(['promote-verify/production/goodbye.zip', 'promote-verify/production/hello.zip']);
      const v1 = settingsByFile(lambdasOf('staging'));
      expect(settingsByFile(lambdasOf('production'))).toEqual(v1);
      expect(packagePuts(seen, EXAMPLE.deployRole), 'staging uploaded its two packages').toHaveLength(2);
      expect(packagePuts(seen, EXAMPLE.productionRole), 'the promotion uploaded nothing').toEqual([]);
      expect(s3.requests.slice(seen).some((r) => signedBy(EXAMPLE.productionRole).has(r.accessKeyId ?? '')), 'production jobs went through the proxy').toBe(true);
      expect((await p.record('production')).functions.map((f: Json) => f.packageKey).sort()).toEqual((await p.record('staging')).functions.map((f: Json) => f.packageKey).sort());
      expect((await historyOf('production')).entries[0]).toMatchObject({ number: 1, command: 'promote', from: 'staging#1' });
      expect(first.output).toMatch(/^promote_production\s+> Promoting 'staging' history entry #1/m);
      expect(await checksOf()).toEqual({ 'production/goodbye.zip': true, 'production/hello.zip': true });
      expect(productionHits().length, 'verify_production called production').toBeGreaterThanOrEqual(2);

      // 2. A new commit goes the same way.
      await writeFiles(p.dir, { 'src/hello.js': 'exports.handler = async () => ({ statusCode: 200, body: "hello v2" });\n' });
      await commitAll(p.dir, 'hello v2');
      seen = s3.requests.length;
      expectJobs(await promotingPipeline(), everyPipelineJob, manualOnly);
      expect(packagePuts(seen, EXAMPLE.deployRole), 'only the changed package is uploaded').toHaveLength(1);
      expect(packagePuts(seen, EXAMPLE.productionRole)).toEqual([]);
      const v2 = settingsByFile(lambdasOf('production'));
      expect(v2['hello.zip'].package_url).not.toBe(v1['hello.zip'].package_url);
      expect(v2['goodbye.zip']).toEqual(v1['goodbye.zip']);

      // 3. The manual rollback, from an empty checkout: production runs the first promotion's packages again.
      await p.removeCheckoutOutputs();
      seen = s3.requests.length;
      const rolled = await p.run(['rollback_production'], { GESTALT_ID_TOKEN: token });
      expectJobs(rolled, ['rollback_production']);
      expect(s3.requests.slice(seen).filter((r) => r.method === 'PUT' && r.path.includes('/packages/'))).toEqual([]);
      expect(settingsByFile(lambdasOf('production'))).toEqual(v1);
      expect((await historyOf('production')).entries[0]).toMatchObject({ number: 3, command: 'rollback', from: '#1' });

      // 4. A commit that works in staging but not in production (say, it needs a setting only production lacks):
      // the endpoint server plays the deployed function and answers 500 where production runs that package.
      const broken = 'exports.handler = async () => ({ statusCode: 200, body: "hello v3" });\n';
      const brokenSha = sha256(broken);
      stack.endpoints.respond = (hit) => {
        const endpoint = p.metaEndpoints().find((e) => typeof e.properties.public_url === 'string' && new URL(e.properties.public_url).pathname === hit.path);
        const lambda = p.metaLambdas().find((l) => l.id === endpoint?.properties.implementation_id);
        const inProduction = String(lambda?.name).startsWith('promote-verify/production/');
        return inProduction && String(lambda?.properties.package_url).includes(brokenSha) ? { status: 500, body: '{"error":"PAYMENTS_URL is not set"}' } : undefined;
      };
      try {
        await writeFiles(p.dir, { 'src/hello.js': broken });
        await commitAll(p.dir, 'hello v3');
        seen = s3.requests.length;
        // A short verify timeout: the 500 does not go away by waiting.
        const failed = await promotingPipeline({ GESTALT_VERIFY_TIMEOUT: '3' });
        expect(failed.code, failed.output).not.toBe(0);
        expect(jobResults(failed.output), failed.output).toMatchObject({ passed: everyPipelineJob.slice(0, 4), failed: ['verify_production'] });
        expect(settingsByFile(lambdasOf('staging'))['hello.zip'].package_url).toContain(brokenSha);
        expect(failed.output).toMatch(/verify failed for 'promote-verify\/production\/hello\.zip'; rolling back to the previous deployment/);
        expect(failed.output).toMatch(/Rolled back to the previous deployment after the failed verify/);
        expect(await checksOf()).toEqual({ 'production/goodbye.zip': true, 'production/hello.zip': false });
        expect(packagePuts(seen, EXAMPLE.productionRole)).toEqual([]);
        // Production is back on what it ran before this promotion; staging keeps the new commit.
        expect(settingsByFile(lambdasOf('production'))).toEqual(v1);
        expect((await historyOf('production')).entries.slice(0, 2).map((e: Json) => [e.number, e.command, e.from])).toEqual([[5, 'rollback', '#3'], [4, 'promote', 'staging#3']]);

        // Verifying again passes: production answers as it did before.
        await p.removeCheckoutOutputs();
        expectJobs(await p.run(['verify_production'], { GESTALT_ID_TOKEN: token, GESTALT_VERIFY_TIMEOUT: '3' }), ['verify_production']);
        expect(await checksOf()).toEqual({ 'production/goodbye.zip': true, 'production/hello.zip': true });
      } finally {
        stack.endpoints.respond = undefined;
      }
      assertNoSecrets([first.output, rolled.output], [GF_API_SECRET, token]);

      // 5. Both stop jobs, with nothing from the checkout: nothing of either environment is left.
      await p.removeCheckoutOutputs();
      expectJobs(await p.run(['stop_staging'], { GESTALT_ID_TOKEN: token }), ['stop_staging']);
      expect(lambdasOf('staging')).toEqual([]);
      expect(lambdasOf('production')).toHaveLength(2);
      expectJobs(await p.run(['stop_production'], { GESTALT_ID_TOKEN: token }), ['stop_production']);
      expect(p.metaLambdas()).toEqual([]);
      expect(p.metaEndpoints()).toEqual([]);
      expect(await p.s3Keys('deployments/')).toEqual([]);
    } finally {
      await s3.close();
    }
  });
});

describe('scheduled-prune: a nightly schedule stops stale review environments and deletes unreferenced packages', { timeout: 300_000 }, () => {
  it('pushes deploy review environments; the scheduled pipeline runs only prune, which stops the stale one and keeps every package still named; stop and prune leave nothing', async () => {
    const p = await exampleProject('scheduled-prune', { branch: 'feature/a', files: sources });
    const tokenFor = (ref: string) => stack.idToken({ projectPath: 'acme/scheduled-prune', ref });
    const lambdasOf = (env: string) => p.metaLambdas().filter((l) => String(l.name).startsWith(`scheduled-prune/${env}/`));
    const packageFor = (text: string) => `acme/scheduled-prune/packages/${sha256(text)}/`;
    const hasPackage = (keys: string[], text: string) => keys.some((k) => k.startsWith(packageFor(text)));
    const schedule = async () => {
      execFileSync('git', ['checkout', '-q', 'main'], { cwd: p.dir });
      await p.removeCheckoutOutputs();
      // Package ages come from S3, which cannot be backdated here: 0 days counts any age.
      return p.run([], { GESTALT_ID_TOKEN: await tokenFor('main'), CI_PIPELINE_SOURCE: 'schedule', GESTALT_PRUNE_PACKAGES_DAYS: '0' });
    };

    // feature/a deploys twice (hello changes); feature/b, from main, runs the original hello and goodbye.
    const aToken = await tokenFor('feature/a');
    expectJobs(await p.run([], { GESTALT_ID_TOKEN: aToken }), ['build', 'deploy_review'], ['prune', 'stop_review']);
    const helloA = 'exports.handler = async () => ({ statusCode: 200, body: "hello from a" });\n';
    await p.removeCheckoutOutputs();
    await writeFiles(p.dir, { 'src/hello.js': helloA });
    await commitAll(p.dir, 'hello from a');
    expectJobs(await p.run([], { GESTALT_ID_TOKEN: aToken }), ['build', 'deploy_review'], ['prune', 'stop_review']);
    execFileSync('git', ['checkout', '-q', '-b', 'feature/b', 'main'], { cwd: p.dir });
    await p.removeCheckoutOutputs();
    const bToken = await tokenFor('feature/b');
    expectJobs(await p.run([], { GESTALT_ID_TOKEN: bToken }), ['build', 'deploy_review'], ['prune', 'stop_review']);
    expect(lambdasOf('feature-a')).toHaveLength(2);
    expect(lambdasOf('feature-b')).toHaveLength(2);
    const before = await p.s3Keys('packages/');
    expect(before).toHaveLength(3);

    // review/feature-a has not been deployed for 30 days (its record says so); review/feature-b is fresh.
    const recordKey = 'acme/scheduled-prune/deployments/review/feature-a.json';
    const record = await p.record('review/feature-a');
    await stack.s3.client.send(new PutObjectCommand({ Bucket: stack.bucket, Key: recordKey, Body: JSON.stringify({ ...record, updatedAt: new Date(Date.now() - 30 * 86_400_000).toISOString() }), ContentType: 'application/json' }));

    // The scheduled pipeline runs prune and nothing else.
    const pruned = await schedule();
    expectJobs(pruned, ['prune'], ['build', 'deploy_review', 'stop_review']);
    expect(pruned.output).toMatch(/1 environment\(s\) match review\/\* and were not updated for 14 day\(s\)/);
    const report = await readJson(join(p.dir, 'gestalt-prune.json'));
    expect(report.pruned.environments).toEqual(['review/feature-a']);
    // Only feature/a's own hello is named by nothing now; the original hello and goodbye are feature/b's.
    expect(report.pruned.packages).toHaveLength(1);
    expect(report.pruned.packages[0]).toMatch(new RegExp(`^${packageFor(helloA)}`));
    expect(lambdasOf('feature-a')).toEqual([]);
    expect(p.metaEndpoints().filter((e) => String(e.name).startsWith('scheduled-prune/feature-a/'))).toEqual([]);
    expect(await p.record('review/feature-a')).toBeUndefined();
    expect(lambdasOf('feature-b')).toHaveLength(2);
    const after = await p.s3Keys('packages/');
    expect(hasPackage(after, helloA)).toBe(false);
    expect(hasPackage(after, sources['src/hello.js'])).toBe(true);
    expect(hasPackage(after, sources['src/goodbye.js'])).toBe(true);
    expect((await p.s3Keys('deployments/')).sort()).toEqual(['acme/scheduled-prune/deployments/review/feature-b.history.json', 'acme/scheduled-prune/deployments/review/feature-b.json']);

    // GitLab still lists review/feature-a: its stop job finds nothing left and succeeds.
    execFileSync('git', ['checkout', '-q', 'feature/a'], { cwd: p.dir });
    await p.removeCheckoutOutputs();
    const late = await p.run(['stop_review'], { GESTALT_ID_TOKEN: aToken });
    expectJobs(late, ['stop_review']);
    expect(late.output).toMatch(/Nothing to stop/);

    // feature/b is merged and its environment stopped; the next scheduled run deletes the last packages.
    execFileSync('git', ['checkout', '-q', 'feature/b'], { cwd: p.dir });
    await p.removeCheckoutOutputs();
    expectJobs(await p.run(['stop_review'], { GESTALT_ID_TOKEN: bToken }), ['stop_review']);
    expectJobs(await schedule(), ['prune']);
    expect((await readJson(join(p.dir, 'gestalt-prune.json'))).pruned.packages).toHaveLength(2);
    expect(p.metaLambdas()).toEqual([]);
    expect(p.metaEndpoints()).toEqual([]);
    expect(await p.s3Keys()).toEqual([]);
  });
});

describe('GitLab CI schema and merged configuration', { timeout: 90_000 }, () => {
  it.each(EXAMPLES)('%s: gitlab-ci-local validates it against the CI schema and --preview merges the template in', async (name) => {
    const p = await exampleProject(name, { files: sources });
    const preview = await p.run(['--preview']);
    expect(preview.code, preview.output).toBe(0);
    expect(preview.stderr).toMatch(/json schema validated/);
    const merged = parse(preview.stdout.slice(preview.stdout.indexOf('---\n'))) as Record<string, Json>;
    const jobs = Object.entries(merged).filter(([, v]) => v && typeof v === 'object' && ('script' in v || 'parallel' in v));
    const gestalt = jobs.filter(([, v]) => JSON.stringify(v.script ?? []).includes('gestalt-deploy'));
    expect(gestalt.length, 'jobs built on the template').toBeGreaterThanOrEqual(2);
    for (const [job, v] of gestalt) {
      expect(v.image?.name, job).toBe('$GESTALT_IMAGE');
      expect(v.variables?.GESTALT_IMAGE, job).toBeDefined();
      // prune looks at every environment, so it has none of its own.
      if (!JSON.stringify(v.script).includes('gestalt-deploy prune')) expect(v.environment?.name, `${job} names its environment`).toBeTruthy();
      expect(v.id_tokens?.GESTALT_ID_TOKEN?.aud, job).toBeTruthy();
    }
  });
});
