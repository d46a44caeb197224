// The record never lags reality, in meta mode: two deploys of one environment at once, an endpoint create that
// fails after its lambda was created, and a record write S3 refuses. Each time the report and the record say
// what exists, and a stop (with no checkout) leaves nothing behind.
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../support/fault-proxy.js';
import {
  functionName,
  isSuccess,
  metaCreatesAreIdempotent,
  metaDuplicates,
  metaRecordCovers,
  metaReportMatches,
  projectWithFunctions,
  readRecord,
  recordKey,
  startMetaWorld,
  type MetaWorld,
} from '../support/deploy-state.js';
import { s3ErrorAnswer } from '../support/recording-proxy.js';
import { makeProject, runCli } from '../support/run-cli.js';
import { GF_SECRET, freshBucket, s3Env, startS3Stack, type S3Stack } from './setup.js';

const ENVIRONMENT = 'review/main';
const FUNCTIONS = 3;
let stack: S3Stack;
let world: MetaWorld;
let bucket: string;
let dir: string;
let names: string[];

beforeAll(async () => {
  stack = await startS3Stack();
  const project = await projectWithFunctions(FUNCTIONS);
  dir = project.dir;
  names = project.files.map((f) => functionName(f));
});
afterAll(async () => {
  await stack.close();
});
beforeEach(async () => {
  world = await startMetaWorld(GF_SECRET);
  bucket = await freshBucket(stack);
});
afterEach(async () => {
  stack.proxy.intercept = undefined;
  await world.close();
});

const jobEnv = (cwd: string, extra: Record<string, string> = {}) => s3Env(stack, bucket, { CI_PROJECT_DIR: cwd, ...world.vars(), ...extra });

async function stopLeavesNothing(): Promise<void> {
  const empty = await makeProject({});
  const stop = await runCli(['stop'], { env: jobEnv(empty), cwd: empty });
  expect(
    { code: stop.code, lambdas: world.meta.lambdas().map((l) => l.name), endpoints: world.meta.endpoints().map((e) => e.id), record: await readRecord(stack.s3, bucket, ENVIRONMENT) },
    stop.output,
  ).toEqual({ code: 0, lambdas: [], endpoints: [], record: undefined });
}

describe('two deploys of one environment at once', () => {
  it('the record names every lambda either run created (duplicates included), every record write is conditional, and stop leaves nothing', async () => {
    // Hold every Meta write until both runs have read what exists (each lists the API's endpoints last), so
    // both decide to create: the worst case the template's resource_group normally prevents.
    let release!: () => void;
    const bothLooked = new Promise<void>((resolve) => (release = resolve));
    const fallback = setTimeout(release, 20_000); // only if a changed lookup order never shows two lists
    let endpointLists = 0;
    const proxy = await startFaultProxy({
      target: world.meta.url,
      seed: 0,
      gate: (q) => {
        if (q.method !== 'GET') return bothLooked;
        if (/\/apis\/[^/]+\/apiendpoints(\?|$)/.test(q.path) && ++endpointLists >= 2) release();
        return undefined;
      },
    });
    try {
      const second = await mkdtemp(join(tmpdir(), 'gestalt-deploy-test-'));
      await cp(dir, second, { recursive: true });
      const putsBefore = stack.proxy.requests.length;
      const [a, b] = await Promise.all([
        runCli(['deploy'], { env: jobEnv(dir, { ...world.vars(proxy.url), CI_JOB_ID: '3001', CI_PIPELINE_ID: '1101' }), cwd: dir }),
        runCli(['deploy'], { env: jobEnv(second, { ...world.vars(proxy.url), CI_JOB_ID: '3002', CI_PIPELINE_ID: '1102' }), cwd: second }),
      ]);
      await proxy.settle();
      const record = await readRecord(stack.s3, bucket, ENVIRONMENT);
      const lambdas = world.meta.lambdas();
      const context = `${lambdas.length} lambda(s) exist for ${FUNCTIONS} functions\n--- run A ---\n${a.output}\n--- run B ---\n${b.output}`;
      expect([a.code, b.code].every((c) => c === 0 || c === 1), context).toBe(true);
      expect(a.files.json && b.files.json, context).toBeTruthy();
      expect(metaRecordCovers(record, world.meta), context).toEqual([]);
      // Every success either run reports exists (the record is shared, so compare against Meta only).
      expect([...metaReportMatches(a.files.json, names, world.meta, undefined), ...metaReportMatches(b.files.json, names, world.meta, undefined)], context).toEqual([]);
      const recordPuts = stack.proxy.requests.slice(putsBefore).filter((q) => q.method === 'PUT' && q.path.endsWith(`/${recordKey(ENVIRONMENT)}`));
      expect(recordPuts.length, context).toBeGreaterThan(0);
      expect(recordPuts.filter((q) => !q.ifMatch && !q.ifNoneMatch).map((q) => `PUT ${q.path} → ${q.status}`), `record writes without If-Match/If-None-Match\n${context}`).toEqual([]);
    } finally {
      clearTimeout(fallback);
      await proxy.close();
    }
    await stopLeavesNothing();
  });
});

describe('partial failure: the second endpoint create answers 422', () => {
  it('exit 1; report and record name the lambda that exists without its endpoint; stop leaves nothing', async () => {
    let endpointCreates = 0;
    world.meta.injectFailure({ kind: 'status', status: 422, match: (q) => q.method === 'POST' && q.path.endsWith('/apiendpoints') && ++endpointCreates === 2 });
    const r = await runCli(['deploy'], { env: jobEnv(dir, { GESTALT_CONCURRENCY: '1' }), cwd: dir });
    const record = await readRecord(stack.s3, bucket, ENVIRONMENT);
    expect(r.code, r.output).toBe(1);
    expect(r.files.json?.status, r.output).toBe('partial');
    const failed = (r.files.json?.functions ?? []).filter((l: { action: string }) => !isSuccess(l));
    expect(failed.map((l: { name: string }) => l.name), r.output).toEqual([names[1]]);
    expect(failed[0].error, r.output).toMatch(/endpoint/);
    // The lambda exists (only its endpoint failed): the report and the record both carry its id.
    const orphan = world.meta.lambdas().find((l) => l.name === names[1]);
    expect(orphan, r.output).toBeDefined();
    expect(failed[0].id, r.output).toBe(orphan.id);
    const entry = record?.functions?.find((f: { id?: string }) => f?.id === orphan.id);
    expect(entry?.state, JSON.stringify(record, null, 2)).toBe('failed');
    expect(
      [
        ...metaReportMatches(r.files.json, names, world.meta, record),
        ...metaRecordCovers(record, world.meta),
        ...metaDuplicates(world.meta),
        ...metaCreatesAreIdempotent(world.meta.requests, 'acme/lambdas', ENVIRONMENT),
      ],
      r.output,
    ).toEqual([]);
    await stopLeavesNothing();
  });
});

describe('record-write failure: S3 answers 403 AccessDenied to the record PUT', () => {
  it('exit 1 naming the record; the report still lists every function that exists with its id and URL; stop removes them from the pending record and leaves nothing', async () => {
    // The first record write (every function pending, before any Gestalt write) goes through; every later one is refused.
    let recordPuts = 0;
    stack.proxy.intercept = (q) => (q.method === 'PUT' && q.path.includes('/deployments/') && ++recordPuts > 1 ? s3ErrorAnswer(403, 'AccessDenied', 'Access Denied') : undefined);
    const r = await runCli(['deploy'], { env: jobEnv(dir), cwd: dir });
    stack.proxy.intercept = undefined;
    expect(r.code, r.output).toBe(1);
    const pending = await readRecord(stack.s3, bucket, ENVIRONMENT);
    expect(pending?.functions?.map((f: { state: string }) => f.state), 'the record still says pending: true, the outcome is unknown to it').toEqual(Array(FUNCTIONS).fill('pending'));
    const errors = r.output.split('\n').filter((l) => l.startsWith('ERROR:'));
    expect(errors.some((l) => l.includes(recordKey(ENVIRONMENT)) && /AccessDenied|access denied/i.test(l)), r.output).toBe(true);
    expect(r.output).not.toMatch(/\n\s+at /);
    const lines = r.files.json?.functions ?? [];
    const lambdas = world.meta.lambdas();
    expect(lambdas).toHaveLength(FUNCTIONS);
    expect(
      lines.map((l: { name: string; id: string; url: string }) => [l.name, l.id, l.url]).sort(),
      r.output,
    ).toEqual(
      lambdas
        .map((l) => [l.name, l.id, world.meta.endpoints().find((e) => e.properties.implementation_id === l.id)?.properties.public_url])
        .sort(),
    );
    expect(r.files.json?.environmentUrl, r.output).toBeTruthy();
    expect(r.files.env ?? '', r.output).toMatch(/^GESTALT_ENVIRONMENT_URL=https:\/\/\S+$/m);
    await stopLeavesNothing();
  });
});

describe('record-write failure before anything was created: S3 refuses every record PUT', () => {
  it('exit 1 naming the record, and no lambda or endpoint is created, since nothing could be recorded first', async () => {
    stack.proxy.intercept = (q) => (q.method === 'PUT' && q.path.includes('/deployments/') ? s3ErrorAnswer(403, 'AccessDenied', 'Access Denied') : undefined);
    const r = await runCli(['deploy'], { env: jobEnv(dir), cwd: dir });
    stack.proxy.intercept = undefined;
    expect(r.code, r.output).toBe(1);
    expect(r.output.split('\n').some((l) => l.startsWith('ERROR:') && l.includes(recordKey(ENVIRONMENT)) && /access denied/i.test(l)), r.output).toBe(true);
    expect(world.meta.lambdas()).toEqual([]);
    expect(world.meta.endpoints()).toEqual([]);
    expect(world.meta.requests.filter((q) => q.method !== 'GET')).toEqual([]);
    expect(r.files.json?.functions?.length, r.output).toBe(FUNCTIONS);
  });
});
