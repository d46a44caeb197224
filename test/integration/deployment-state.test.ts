// The record never lags reality, in meta mode: two deploys of one environment at once, an endpoint create that
// fails after its lambda was created, and a record write S3 refuses. Each time the report and the record say
// what exists, and a stop (with no checkout) leaves nothing behind.
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../support/fault-proxy.js';
import {
  NOTHING_LEFT,
  isSuccess,
  metaCreatesAreIdempotent,
  metaDuplicates,
  metaLeft,
  metaRecordCovers,
  metaReportMatches,
  readRecord,
  recordKey,
  startMetaWorld,
  stopAndLook,
  type MetaWorld,
} from '../support/deploy-state.js';
import { s3ErrorAnswer } from '../support/recording-proxy.js';
import { runCli } from '../support/run-cli.js';
import { GF_SECRET, freshBucket, s3Env, useDeployFixture } from './setup.js';

const ENVIRONMENT = 'review/main';
const FUNCTIONS = 3;
const fx = useDeployFixture(FUNCTIONS);
let world: MetaWorld;
let bucket: string;

beforeEach(async () => {
  world = await startMetaWorld(GF_SECRET);
  bucket = await freshBucket(fx.stack);
});
afterEach(async () => {
  fx.stack.proxy.intercept = undefined;
  await world.close();
});

const jobEnv = (cwd: string, extra: Record<string, string> = {}) => s3Env(fx.stack, bucket, { CI_PROJECT_DIR: cwd, ...world.vars(), ...extra });

async function stopLeavesNothing(): Promise<void> {
  const { left, output } = await stopAndLook(jobEnv(fx.dir), fx.stack.s3, bucket, ENVIRONMENT, metaLeft(world.meta));
  expect(left, output).toEqual(NOTHING_LEFT);
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
      await cp(fx.dir, second, { recursive: true });
      const putsBefore = fx.stack.proxy.requests.length;
      const [a, b] = await Promise.all([
        runCli(['deploy'], { env: jobEnv(fx.dir, { ...world.vars(proxy.url), CI_JOB_ID: '3001', CI_PIPELINE_ID: '1101' }), cwd: fx.dir }),
        runCli(['deploy'], { env: jobEnv(second, { ...world.vars(proxy.url), CI_JOB_ID: '3002', CI_PIPELINE_ID: '1102' }), cwd: second }),
      ]);
      await proxy.settle();
      const record = await readRecord(fx.stack.s3, bucket, ENVIRONMENT);
      const lambdas = world.meta.lambdas();
      const context = `${lambdas.length} lambda(s) exist for ${FUNCTIONS} functions\n--- run A ---\n${a.output}\n--- run B ---\n${b.output}`;
      expect([a.code, b.code].every((c) => c === 0 || c === 1), context).toBe(true);
      expect(a.files.json && b.files.json, context).toBeTruthy();
      expect(metaRecordCovers(record, world.meta), context).toEqual([]);
      // Every success either run reports exists (the record is shared, so compare against Meta only).
      expect([...metaReportMatches(a.files.json, fx.names, world.meta, undefined), ...metaReportMatches(b.files.json, fx.names, world.meta, undefined)], context).toEqual([]);
      const recordPuts = fx.stack.proxy.requests.slice(putsBefore).filter((q) => q.method === 'PUT' && q.path.endsWith(`/${recordKey(ENVIRONMENT)}`));
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
    const r = await runCli(['deploy'], { env: jobEnv(fx.dir, { GESTALT_CONCURRENCY: '1' }), cwd: fx.dir });
    const record = await readRecord(fx.stack.s3, bucket, ENVIRONMENT);
    expect(r.code, r.output).toBe(1);
    expect(r.files.json?.status, r.output).toBe('partial');
    const failed = (r.files.json?.functions ?? []).filter((l: { action: string }) => !isSuccess(l));
    expect(failed.map((l: { name: string }) => l.name), r.output).toEqual([fx.names[1]]);
    expect(failed[0].error, r.output).toMatch(/endpoint/);
    // The lambda exists (only its endpoint failed): the report and the record both carry its id.
    const orphan = world.meta.lambdas().find((l) => l.name === fx.names[1]);
    expect(orphan, r.output).toBeDefined();
    expect(failed[0].id, r.output).toBe(orphan.id);
    const entry = record?.functions?.find((f: { id?: string }) => f?.id === orphan.id);
    expect(entry?.state, JSON.stringify(record, null, 2)).toBe('failed');
    expect(
      [
        ...metaReportMatches(r.files.json, fx.names, world.meta, record),
        ...metaRecordCovers(record, world.meta),
        ...metaDuplicates(world.meta),
        ...metaCreatesAreIdempotent(world.meta.requests, 'acme/lambdas', ENVIRONMENT),
      ],
      r.output,
    ).toEqual([]);
    await stopLeavesNothing();
  });
});

describe('record-write failure: S3 answers 403 AccessDenied to record PUTs', () => {
  const refuse = (when: () => boolean) => {
    fx.stack.proxy.intercept = (q) => (q.method === 'PUT' && q.path.includes('/deployments/') && when() ? s3ErrorAnswer(403, 'AccessDenied', 'Access Denied') : undefined);
  };
  const namesTheRecord = (output: string) =>
    output.split('\n').some((l) => l.startsWith('ERROR:') && l.includes(recordKey(ENVIRONMENT)) && /AccessDenied|access denied/i.test(l));
  /**
   * [name, id, URL] of every lambda Meta holds, and of every report line naming one of them: equal when the
   * report lists everything that exists (what success lines claim is checked by metaReportMatches).
   */
  const inMeta = () => world.meta.lambdas().map((l) => [l.name, l.id, world.meta.endpoints().find((e) => e.properties.implementation_id === l.id)?.properties.public_url]).sort();
  const inReport = (json: { functions?: { name: string; id?: string; url?: string }[] } | undefined) => {
    const ids = new Set(world.meta.lambdas().map((l) => l.id));
    return (json?.functions ?? []).filter((l) => l.id && ids.has(l.id)).map((l) => [l.name, l.id, l.url]).sort();
  };

  it('every record write refused: exit 1 naming the record, the report lists whatever exists, stop leaves nothing', async () => {
    refuse(() => true);
    const r = await runCli(['deploy'], { env: jobEnv(fx.dir), cwd: fx.dir });
    fx.stack.proxy.intercept = undefined;
    expect(r.code, r.output).toBe(1);
    expect(namesTheRecord(r.output), r.output).toBe(true);
    expect(r.output).not.toMatch(/\n\s+at /);
    // Whether the runner went on without a record (meta marks make its functions findable) or stopped before
    // its first Gestalt write, the report must not hide what exists.
    expect(inReport(r.files.json), r.output).toEqual(inMeta());
    expect(metaReportMatches(r.files.json, fx.names, world.meta, undefined, false), r.output).toEqual([]);
    await stopLeavesNothing();
  });

  it('record writes refused once Gestalt writes began: exit 1 naming the record; the report lists every function with id and URL; the first record names them; stop leaves nothing', async () => {
    refuse(() => world.meta.requests.some((q) => q.method !== 'GET'));
    const r = await runCli(['deploy'], { env: jobEnv(fx.dir), cwd: fx.dir });
    fx.stack.proxy.intercept = undefined;
    expect(r.code, r.output).toBe(1);
    expect(namesTheRecord(r.output), r.output).toBe(true);
    expect(world.meta.lambdas(), r.output).toHaveLength(FUNCTIONS);
    expect(inReport(r.files.json), r.output).toEqual(inMeta());
    expect(r.files.json?.environmentUrl, r.output).toBeTruthy();
    expect(r.files.env ?? '', r.output).toMatch(/^GESTALT_ENVIRONMENT_URL=https:\/\/\S+$/m);
    // The record written before the first Gestalt write already names every function (pending, with its id).
    expect(metaRecordCovers(await readRecord(fx.stack.s3, bucket, ENVIRONMENT), world.meta), r.output).toEqual([]);
    await stopLeavesNothing();
  });
});
