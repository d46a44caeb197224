// stop may only delete what this project created for this environment. A deployment record is untrusted input
// (anyone with write access to the bucket can edit it) and a stop job's environment name can be mistyped:
// either way nothing that belongs to someone else is deleted, the job says why in one sentence (exit 1 or 2 for a
// tampered record; a mistyped name is a warning, since stopping what is gone succeeds), and it does not claim to
// have removed a record that never existed.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { API_KEY, MARK_ENVIRONMENT, MARK_PROJECT, functionName, projectWithFunctions, readRecord, recordKey, startGatewayWorld, startMetaWorld, type GatewayWorld, type MetaWorld } from '../support/deploy-state.js';
import { JOB_COMMIT_SHA, makeProject, runCli, type CliResult } from '../support/run-cli.js';
import { ENV_ID, GF_SECRET, freshBucket, s3Env, startS3Stack, type S3Stack } from './setup.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const FEATURE = { CI_ENVIRONMENT_NAME: 'review/feature', CI_ENVIRONMENT_SLUG: 'review-feature-a1b2c3', CI_COMMIT_REF_SLUG: 'feature', CI_COMMIT_REF_NAME: 'feature', CI_COMMIT_BRANCH: 'feature' };
const PROD_NAME = 'other/main/prod.zip';

let stack: S3Stack;
let bucket: string;
let empty: string;

beforeAll(async () => {
  stack = await startS3Stack();
  empty = await makeProject({});
});
afterAll(async () => {
  await stack.close();
});

async function putRecord(environment: string, record: unknown): Promise<string> {
  const body = `${JSON.stringify(record, null, 2)}\n`;
  await stack.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: recordKey(environment), Body: body, ContentType: 'application/json' }));
  return body;
}

/** A schema-2 record header for acme/lambdas; the tests vary what they tamper with. */
function record(environment: string, environmentId: string, functions: unknown[], overrides: Record<string, unknown> = {}) {
  return {
    schema: 2,
    environment,
    mode: 'meta',
    project: { name: 'lambdas', path: 'acme/lambdas', id: '42' },
    ref: 'feature',
    sha: JOB_COMMIT_SHA,
    pipelineId: '1001',
    jobUrl: 'https://gitlab.example.com/acme/lambdas/-/jobs/2002',
    updatedAt: new Date().toISOString(),
    api: 'dev1',
    environmentId,
    org: 'root',
    functions,
    ...overrides,
  };
}

const entry = (name: string | undefined, id: unknown, extra: Record<string, unknown> = {}) => ({
  ...(name === undefined ? {} : { name }),
  file: 'a.zip',
  runtime: 'nodejs',
  handler: 'index.handler',
  packageKey: `acme/lambdas/packages/${'0'.repeat(64)}/a.zip`,
  sha256: '0'.repeat(64),
  id,
  deployedAt: new Date().toISOString(),
  state: 'deployed',
  ...extra,
});

/** exit 1 or 2, at least one ERROR sentence and one matching `names`, no stack trace or crash, no false claim. */
function refusedClearly(r: CliResult, names: RegExp): void {
  expect([1, 2], r.output).toContain(r.code);
  // A configuration error says "ERROR: configuration error …" and lists each problem below it.
  const errors = r.output.split('\n').filter((l) => l.startsWith('ERROR:') || (r.code === 2 && l.startsWith('  - ')));
  expect(errors.some((l) => names.test(l)), `no ERROR line matches ${names}:\n${r.output}`).toBe(true);
  expect(r.output).not.toMatch(/\n\s+at |Cannot read properties|TypeError/);
  expect(r.output).not.toMatch(/Removed the deployment record/);
}

describe('meta mode: a tampered record for review/feature deletes nothing', () => {
  let world: MetaWorld;
  let prodEnvId: string;
  let prod: Json;
  let prodEndpoints: string[];
  let writesBefore: number;

  const metaPost = async (path: string, body: unknown) => {
    const res = await fetch(`${world.meta.url}/root${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${API_KEY}:${GF_SECRET}`).toString('base64')}` },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as Json;
  };

  beforeEach(async () => {
    world = await startMetaWorld(GF_SECRET);
    bucket = await freshBucket(stack);
    // Another project's production lambda with two endpoints, in another environment, marked as its own.
    prodEnvId = world.meta.seedEnvironment({ name: 'production' });
    const prodApi = world.meta.seedApi(prodEnvId, { name: 'prod' });
    const marks = { [MARK_PROJECT]: 'acme/other', [MARK_ENVIRONMENT]: 'production' };
    prod = await metaPost(`/environments/${prodEnvId}/lambdas`, {
      name: PROD_NAME,
      variables: marks,
      properties: { public: true, runtime: 'nodejs', code_type: 'package', package_url: 'https://s3.example/p.zip', memory: 512, cpus: 0.1, timeout: 30, handler: 'index.handler', provider: { id: world.providerId } },
    });
    prodEndpoints = [];
    for (const resource of ['/other/main/prod.zip', '/other/main/prod-admin']) {
      const e = await metaPost(`/apis/${prodApi}/apiendpoints`, { name: PROD_NAME, variables: marks, properties: { implementation_type: 'lambda', implementation_id: prod.id, resource, methods: ['GET'] } });
      prodEndpoints.push(e.id);
    }
    writesBefore = world.meta.requests.length;
  });
  afterEach(async () => {
    await world.close();
  });

  const stopFeature = (extra: Record<string, string | undefined> = {}) =>
    runCli(['stop'], { env: s3Env(stack, bucket, { CI_PROJECT_DIR: empty, ...world.vars(), ...FEATURE, ...extra }), cwd: empty });

  async function nothingChanged(stored: string): Promise<void> {
    const writes = world.meta.requests.slice(writesBefore).filter((q) => q.method !== 'GET');
    expect(writes.map((q) => `${q.method} ${q.path}`)).toEqual([]);
    expect(world.meta.lambdas().map((l) => l.id)).toEqual([prod.id]);
    expect(world.meta.endpoints().map((e) => e.id).sort()).toEqual([...prodEndpoints].sort());
    // The record is evidence: a refused stop leaves it as it was.
    expect((await stack.s3.getObject(bucket, recordKey('review/feature')))?.toString('utf8')).toBe(stored);
  }

  it("the record's environmentId is another environment than the job's LAMBDA_ENVIRONMENT_ID: refused, naming both", async () => {
    const stored = await putRecord('review/feature', record('review/feature', prodEnvId, [entry(functionName('a.zip', 'feature'), prod.id, { endpointIds: prodEndpoints })]));
    const r = await stopFeature();
    refusedClearly(r, new RegExp(`(?=.*${prodEnvId})(?=.*${world.envId})`));
    await nothingChanged(stored);
  });

  it("ids that point at another project's production lambda, under our name and under its own: each refused, naming it", async () => {
    const stored = await putRecord(
      'review/feature',
      record('review/feature', prodEnvId, [
        entry(functionName('a.zip', 'feature'), prod.id, { endpointIds: prodEndpoints }),
        entry(PROD_NAME, prod.id, { file: 'prod.zip', endpointIds: prodEndpoints }),
      ]),
    );
    // No LAMBDA_ENVIRONMENT_ID in the stop job: only the name and the ownership mark stand between it and prod.
    const r = await stopFeature({ LAMBDA_ENVIRONMENT_ID: undefined });
    refusedClearly(r, new RegExp(`${prod.id}|${PROD_NAME.replace(/[./]/g, '\\$&')}`));
    await nothingChanged(stored);
  });

  it("an id of a lambda in another environment than the job's: refused, naming it", async () => {
    const stored = await putRecord('review/feature', record('review/feature', world.envId, [entry(PROD_NAME, prod.id, { file: 'prod.zip', endpointIds: prodEndpoints })]));
    const r = await stopFeature();
    refusedClearly(r, new RegExp(`${prod.id}|${PROD_NAME.replace(/[./]/g, '\\$&')}`));
    await nothingChanged(stored);
  });

  it('path-like ids (../../../apiendpoints/<id>, ../../..), a null entry and an entry without a name: the record is refused, nothing is sent', async () => {
    const stored = await putRecord(
      'review/feature',
      record('review/feature', prodEnvId, [
        entry(functionName('a.zip', 'feature'), prod.id),
        entry(functionName('b.zip', 'feature'), `../../../apiendpoints/${prodEndpoints[0]}`),
        entry(functionName('c.zip', 'feature'), '../../..'),
        null,
        entry(undefined, '3c0e5a52-2b1f-4a8e-9d1c-7f7b0e6a9d41'),
      ]),
    );
    for (const extra of [{ LAMBDA_ENVIRONMENT_ID: undefined }, {}]) {
      const r = await stopFeature(extra);
      refusedClearly(r, /record|review\/feature/);
      await nothingChanged(stored);
    }
    // A deploy reads the same record first: it must refuse it too, not crash on the null entry.
    const project = await projectWithFunctions(1);
    const deploy = await runCli(['deploy'], { env: s3Env(stack, bucket, { CI_PROJECT_DIR: project.dir, ...world.vars(), ...FEATURE }), cwd: project.dir });
    refusedClearly(deploy, /record|review\/feature/);
    expect(world.meta.lambdas().map((l) => l.id)).toEqual([prod.id]);
  });

  it('a mistyped environment (review/feature-logn, no record) does not touch review/feature-login, and claims no record removal', async () => {
    const project = await projectWithFunctions(2);
    const login = { CI_ENVIRONMENT_NAME: 'review/feature-login', CI_ENVIRONMENT_SLUG: 'review-feature-login-x1y2z3', CI_COMMIT_REF_SLUG: 'feature-login', CI_COMMIT_REF_NAME: 'feature-login', CI_COMMIT_BRANCH: 'feature-login' };
    const deploy = await runCli(['deploy'], { env: s3Env(stack, bucket, { CI_PROJECT_DIR: project.dir, ...world.vars(), ...login }), cwd: project.dir });
    expect(deploy.code, deploy.output).toBe(0);
    const deployed = world.meta.lambdas().filter((l) => l.name.startsWith('lambdas/feature-login/')).map((l) => l.id).sort();
    expect(deployed).toHaveLength(2);
    const endpoints = world.meta.endpoints().map((e) => e.id).sort();
    const mark = world.meta.requests.length;

    // Same branch, same ref slug: only the environment name in the stop job is wrong.
    const r = await runCli(['stop'], { env: s3Env(stack, bucket, { CI_PROJECT_DIR: empty, ...world.vars(), ...login, CI_ENVIRONMENT_NAME: 'review/feature-logn' }), cwd: empty });
    // Stopping what is already gone succeeds (the contract: stop twice is harmless), so the mistyped name is not an
    // error; the job says which environment it probably meant, deletes nothing and claims no record removal.
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/^WARNING: CI_ENVIRONMENT_NAME is 'review\/feature-logn', which has no deployment; environment 'review\/feature-login' has one/m);
    expect(r.output).not.toMatch(/Removed the deployment record/);
    expect(r.files.json?.status).toBe('nothing-to-do');
    expect(world.meta.requests.slice(mark).filter((q) => q.method !== 'GET').map((q) => `${q.method} ${q.path}`)).toEqual([]);
    expect(world.meta.lambdas().map((l) => l.id).filter((id) => id !== prod.id).sort()).toEqual(deployed);
    expect(world.meta.endpoints().map((e) => e.id).sort()).toEqual(endpoints);
    expect(await readRecord(stack.s3, bucket, 'review/feature-logn')).toBeUndefined();

    // The right environment's stop still removes exactly its own functions.
    const right = await runCli(['stop'], { env: s3Env(stack, bucket, { CI_PROJECT_DIR: empty, ...world.vars(), ...login }), cwd: empty });
    expect(right.code, right.output).toBe(0);
    expect(world.meta.lambdas().map((l) => l.id)).toEqual([prod.id]);
    expect(world.meta.endpoints().map((e) => e.id).sort()).toEqual([...prodEndpoints].sort());
  });
});

describe('gateway mode: a record naming another project deletes nothing', () => {
  let world: GatewayWorld;
  beforeEach(async () => {
    world = await startGatewayWorld(ENV_ID);
    bucket = await freshBucket(stack);
  });
  afterEach(async () => {
    await world.close();
  });

  it("names outside <project>/…, or a record whose project is another one: refused; no stop reaches the deployment lambda", async () => {
    // The other project's function, deployed through the same lambda.
    const res = await fetch(world.gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ file: 'prod.zip', runtime: 'nodejs', api: 'dev1', env_id: ENV_ID, project: 'other', project_path: 'acme/other', git_env: 'production', lambda_url: 'https://s3.example/p.zip', git_ref: 'main', git_sha: JOB_COMMIT_SHA }),
    });
    expect(res.status).toBe(200);
    const before = world.gateway.requests.length;
    await putRecord(
      'review/feature',
      record('review/feature', ENV_ID, [entry(PROD_NAME, undefined, { file: 'prod.zip' }), entry(functionName('prod.zip', 'main', 'other'), undefined, { file: 'prod.zip' })], {
        mode: 'gateway',
        project: { name: 'other', path: 'acme/other', id: '43' },
        ref: 'main',
        org: undefined,
      }),
    );
    const r = await runCli(['stop'], { env: s3Env(stack, bucket, { CI_PROJECT_DIR: empty, ...world.vars(), ...FEATURE }), cwd: empty });
    refusedClearly(r, /other/);
    expect(world.gateway.requests.slice(before).map((q) => q.body?.action ?? 'deploy')).toEqual([]);
    expect([...world.gateway.lambdas().keys()]).toEqual([PROD_NAME]);
  });
});
