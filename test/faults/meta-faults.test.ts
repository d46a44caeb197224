// Seeded fault runs in meta mode: 20 functions deployed through a proxy that fails 20 % of the writes with a
// 503, drops 5 % of the answers after Meta acted, and holds 2 % past the runner's timeout so they land late.
// After each run the report and the record must tell the truth about what Meta holds and nothing may exist
// twice; then a fault-free rerun converges and a stop leaves nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  startMetaWorld,
} from '../support/deploy-state.js';
import { makeProject, runCli } from '../support/run-cli.js';
import { GF_SECRET, freshBucket, s3Env, startS3Stack, type S3Stack } from '../integration/setup.js';
import { FAULT_VARS, FUNCTIONS, FaultTally, LATE_MS, RATES, RUNS, exitProblems, explain, seeds } from './fault-run.js';

const ENVIRONMENT = 'review/main';
let stack: S3Stack;
let dir: string;
let names: string[];
const tally = new FaultTally();

beforeAll(async () => {
  stack = await startS3Stack();
  const project = await projectWithFunctions(FUNCTIONS);
  dir = project.dir;
  names = project.files.map((f) => functionName(f));
});
afterAll(async () => {
  await stack.close();
});

describe(`meta mode under seeded faults (${RUNS} run(s) × ${FUNCTIONS} functions)`, () => {
  it.each(seeds(4))('seed %i: report and record match Meta, no duplicates; a clean rerun converges; stop leaves nothing', async (seed) => {
    const world = await startMetaWorld(GF_SECRET);
    const proxy = await startFaultProxy({ target: world.meta.url, seed, rates: RATES, lateMs: LATE_MS });
    try {
      const bucket = await freshBucket(stack);
      const env = s3Env(stack, bucket, { CI_PROJECT_DIR: dir, ...world.vars(proxy.url), ...FAULT_VARS });

      const deploy = await runCli(['deploy'], { env, cwd: dir });
      await proxy.settle(); // every late write has landed: what exists now is what a later job finds
      tally.add(proxy);
      let record = await readRecord(stack.s3, bucket, ENVIRONMENT);
      expect(
        [
          ...exitProblems(deploy, false),
          ...metaReportMatches(deploy.files.json, names, world.meta, record),
          ...metaRecordCovers(record, world.meta),
          ...metaDuplicates(world.meta),
          ...metaCreatesAreIdempotent(proxy.requests, 'acme/lambdas', ENVIRONMENT),
        ],
        explain('meta', 'deploy under faults', proxy, deploy),
      ).toEqual([]);

      proxy.setRates({});
      const rerun = await runCli(['deploy'], { env, cwd: dir });
      await proxy.settle();
      record = await readRecord(stack.s3, bucket, ENVIRONMENT);
      const lambdas = world.meta.lambdas();
      expect(
        [
          ...exitProblems(rerun, true),
          ...metaReportMatches(rerun.files.json, names, world.meta, record),
          ...metaRecordCovers(record, world.meta),
          ...metaDuplicates(world.meta),
          ...(JSON.stringify(lambdas.map((l) => l.name).sort()) === JSON.stringify(names) ? [] : [`Meta holds ${lambdas.map((l) => l.name).sort().join(', ')}`]),
          ...(world.meta.endpoints().length === FUNCTIONS ? [] : [`Meta holds ${world.meta.endpoints().length} endpoints`]),
          ...(record?.functions?.filter((f: { state: string }) => f.state === 'deployed').length === FUNCTIONS ? [] : ['the record does not say every function is deployed']),
        ],
        explain('meta', 'fault-free rerun', proxy, rerun),
      ).toEqual([]);
      expect(rerun.files.json.functions.every(isSuccess)).toBe(true);

      const empty = await makeProject({});
      const stop = await runCli(['stop'], { env: { ...env, CI_PROJECT_DIR: empty }, cwd: empty });
      expect(
        {
          code: stop.code,
          lambdas: world.meta.lambdas().map((l) => l.name),
          endpoints: world.meta.endpoints().map((e) => e.id),
          record: await readRecord(stack.s3, bucket, ENVIRONMENT),
        },
        explain('meta', 'stop', proxy, stop),
      ).toEqual({ code: 0, lambdas: [], endpoints: [], record: undefined });
    } finally {
      await proxy.close();
      await world.close();
    }
  });

  it('the runs exercised every kind of fault', () => {
    expect(tally.totals.transient, JSON.stringify(tally.totals)).toBeGreaterThan(0);
    expect(tally.totals.dropped, JSON.stringify(tally.totals)).toBeGreaterThan(0);
    expect(tally.totals.late, JSON.stringify(tally.totals)).toBeGreaterThan(0);
  });
});
