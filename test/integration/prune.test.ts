import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { useMetaWorld } from './meta-setup.js';
import { runCli } from '../support/run-cli.js';
import { projectWithPackages, s3Writes } from './setup.js';

// prune against the bundle, the Meta emulator and moto, from an empty directory and without an environment,
// as a scheduled pipeline runs it.

const w = useMetaWorld();
const env = w.env;

const PREFIX = 'acme/lambdas';
const STRAY = `${PREFIX}/packages/${'a'.repeat(64)}/stray.zip`;
const NOT_A_PACKAGE = `${PREFIX}/packages/notes.txt`;

/** The job of a scheduled pipeline: no environment, no checkout, no LAMBDA_* variables. */
function pruneEnv(dir: string, extra: Record<string, string | undefined> = {}) {
  return env(dir, { CI_ENVIRONMENT_NAME: undefined, CI_ENVIRONMENT_SLUG: undefined, LAMBDA_ARTIFACTS: undefined, LAMBDA_RUNTIME: undefined, LAMBDA_HANDLER: undefined, LAMBDA_API: undefined, LAMBDA_ENVIRONMENT_ID: undefined, ...extra });
}

async function deployTo(environment: string, file: string): Promise<void> {
  const dir = await projectWithPackages([file]);
  const slug = environment.replace(/\W+/g, '-');
  const r = await runCli(['deploy'], { env: env(dir, { CI_ENVIRONMENT_NAME: environment, CI_ENVIRONMENT_SLUG: slug, GESTALT_NAME_TEMPLATE: '{project}/{env}/{file}' }), cwd: dir });
  expect(r.code, r.output).toBe(0);
}

async function keys(): Promise<string[]> {
  const out = await w.stack.s3.client.send(new ListObjectsV2Command({ Bucket: w.bucket, Prefix: `${PREFIX}/` }));
  return (out.Contents ?? []).map((o) => o.Key as string).sort();
}

async function getJson(key: string) {
  const out = await w.stack.s3.client.send(new GetObjectCommand({ Bucket: w.bucket, Key: key }));
  return JSON.parse(await (out.Body as { transformToString(): Promise<string> }).transformToString());
}

async function put(key: string, body: string): Promise<void> {
  await w.stack.s3.client.send(new PutObjectCommand({ Bucket: w.bucket, Key: key, Body: body }));
}

const lambdaNames = () => w.meta.lambdas().map((l) => l.name).sort();
const packageOf = (record: { functions: { packageKey: string }[] }) => record.functions[0]?.packageKey as string;

describe('prune', () => {
  it('--dry-run lists and changes nothing; prune stops only matching stale environments (a tampered record is refused) and deletes only unreferenced old packages', async () => {
    await deployTo('review/a', 'hello.zip');
    await deployTo('review/b', 'users.zip');
    await deployTo('production', 'orders.zip');
    await put(STRAY, 'PK-stray');
    await put(NOT_A_PACKAGE, 'not a package');
    const recordA = await getJson(`${PREFIX}/deployments/review/a.json`);
    const production = await getJson(`${PREFIX}/deployments/production.json`);
    // The same bytes as production's package under another file name: named by its sha256, so kept.
    const sameBytes = packageOf(production).replace(/[^/]+$/, 'copy.zip');
    await put(sameBytes, 'copy');
    // review/b's record is edited to name production's lambda: its stop must refuse and delete nothing of it.
    const recordB = await getJson(`${PREFIX}/deployments/review/b.json`);
    const prodLambda = w.meta.lambdas().find((l) => l.name === 'lambdas/production/orders.zip');
    await put(`${PREFIX}/deployments/review/b.json`, JSON.stringify({ ...recordB, functions: [{ ...recordB.functions[0], name: prodLambda.name, id: prodLambda.id }] }));
    const empty = await mkdtemp(join(tmpdir(), 'gestalt-prune-'));
    const allKeys = await keys();
    const lambdasBefore = JSON.stringify(w.meta.lambdas());

    // Young packages (default 30 days) and no GESTALT_PRUNE_ENVIRONMENTS: nothing to do, and no Gestalt needed.
    const young = await runCli(['prune'], { env: pruneEnv(empty, { GESTALT_META_URL: undefined, GESTALT_ORG: undefined, GF_API_KEY: undefined, GF_API_SECRET: undefined }), cwd: empty });
    expect(young.code, young.output).toBe(0);
    expect((await readPrune(empty)).pruned).toEqual({ dryRun: false, packages: [], environments: [] });
    expect(await keys()).toEqual(allKeys);

    const stale = { GESTALT_PRUNE_ENVIRONMENTS: 'review/*', GESTALT_PRUNE_AFTER_DAYS: '0', GESTALT_PRUNE_PACKAGES_DAYS: '0' };
    const from = w.stack.proxy.requests.length;
    w.meta.clearRequests();
    const dry = await runCli(['prune', '--dry-run'], { env: pruneEnv(empty, stale), cwd: empty });
    expect(dry.code, dry.output).toBe(0);
    const listed = (await readPrune(empty)).pruned;
    expect(listed.dryRun).toBe(true);
    expect(listed.environments.sort()).toEqual(['review/a', 'review/b']);
    expect(listed.packages.sort()).toEqual([packageOf(recordA), packageOf(recordB), STRAY].sort());
    expect(dry.output).toMatch(/would delete .*stray\.zip/);
    expect(s3Writes(w.stack, from)).toEqual([]);
    expect(w.meta.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(await keys()).toEqual(allKeys);
    expect(JSON.stringify(w.meta.lambdas())).toBe(lambdasBefore);

    const real = await runCli(['prune'], { env: pruneEnv(empty, stale), cwd: empty });
    // review/b's refusal fails the job, after everything else was done.
    expect(real.code, real.output).toBe(1);
    expect(real.output).toMatch(/Refused to remove lambda 'lambdas\/production\/orders\.zip'/);
    const report = await readPrune(empty);
    expect(report.pruned.environments).toEqual(['review/a']);
    expect(report.pruned.packages.sort()).toEqual([packageOf(recordA), STRAY].sort());
    expect(lambdaNames()).toEqual(['lambdas/production/orders.zip', 'lambdas/review-b/users.zip']);
    const left = await keys();
    // review/a is gone with its history and package; everything another record or history names stays.
    expect(left.filter((k) => k.includes('/deployments/'))).toEqual([`${PREFIX}/deployments/production.history.json`, `${PREFIX}/deployments/production.json`, `${PREFIX}/deployments/review/b.history.json`, `${PREFIX}/deployments/review/b.json`]);
    expect(left).toEqual(expect.arrayContaining([packageOf(production), sameBytes, packageOf(recordB), NOT_A_PACKAGE]));
    expect(left).not.toContain(packageOf(recordA));
    expect(left).not.toContain(STRAY);
    // Packages go in one batched DeleteObjects call, never one DELETE each.
    const sent = w.stack.proxy.requests.slice(from);
    expect(sent.filter((r) => r.method === 'POST' && r.query.includes('delete'))).toHaveLength(1);
    expect(sent.filter((r) => r.method === 'DELETE' && r.path.includes('/packages/'))).toEqual([]);
  });

  it('a matching environment updated more recently than GESTALT_PRUNE_AFTER_DAYS stays', async () => {
    await deployTo('review/fresh', 'hello.zip');
    const empty = await mkdtemp(join(tmpdir(), 'gestalt-prune-'));
    const r = await runCli(['prune'], { env: pruneEnv(empty, { GESTALT_PRUNE_ENVIRONMENTS: 'review/*', GESTALT_PRUNE_PACKAGES_DAYS: '0' }), cwd: empty });
    expect(r.code, r.output).toBe(0);
    expect((await readPrune(empty)).pruned).toEqual({ dryRun: false, packages: [], environments: [] });
    expect(lambdaNames()).toEqual(['lambdas/review-fresh/hello.zip']);
  });

  it('--dry-run is an option of prune only', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'gestalt-prune-'));
    const r = await runCli(['stop', '--dry-run'], { env: env(empty), cwd: empty });
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/there is no --dry-run; 'gestalt-deploy plan' shows what deploy would do/);
  });
});

async function readPrune(dir: string) {
  return JSON.parse(await readFile(join(dir, 'gestalt-prune.json'), 'utf8'));
}
