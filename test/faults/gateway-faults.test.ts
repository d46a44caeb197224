// Seeded fault runs in gateway mode: 20 deploy POSTs to the deployment lambda through a proxy that fails 20 %
// with a 503, drops 5 % of the answers after the lambda acted, and holds 2 % past the runner's timeout. The
// lambda cannot be listed, so the record must name every function that may exist; a POST that timed out must
// not be sent again while the first may still be running (the original looks up by name, then creates).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../support/fault-proxy.js';
import {
  API,
  functionName,
  gatewayOverlappingDeploys,
  gatewayRecordCovers,
  gatewayReportMatches,
  projectWithFunctions,
  readRecord,
  startGatewayWorld,
} from '../support/deploy-state.js';
import { makeProject, runCli } from '../support/run-cli.js';
import { ENV_ID, freshBucket, s3Env, startS3Stack, type S3Stack } from '../integration/setup.js';
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

describe(`gateway mode under seeded faults (${RUNS} run(s) × ${FUNCTIONS} functions)`, () => {
  it.each(seeds(48))('seed %i: report and record match the deployment lambda, no overlapping deploys; a clean rerun converges; stop leaves nothing', async (seed) => {
    const world = await startGatewayWorld(ENV_ID);
    const base = world.gateway.url.replace(/\/deploy$/, '');
    const proxy = await startFaultProxy({ target: base, seed, rates: RATES, lateMs: LATE_MS });
    try {
      const bucket = await freshBucket(stack);
      const env = s3Env(stack, bucket, { CI_PROJECT_DIR: dir, ...world.vars(proxy.url), ...FAULT_VARS });

      const deploy = await runCli(['deploy'], { env, cwd: dir });
      await proxy.settle();
      tally.add(proxy);
      let record = await readRecord(stack.s3, bucket, ENVIRONMENT);
      expect(
        [
          ...exitProblems(deploy, false),
          ...gatewayReportMatches(deploy.files.json, names, world.gateway, record),
          ...gatewayRecordCovers(record, world.gateway),
          ...gatewayOverlappingDeploys(proxy.requests),
        ],
        explain('gateway', 'deploy under faults', proxy, deploy),
      ).toEqual([]);

      proxy.setRates({});
      const rerun = await runCli(['deploy'], { env, cwd: dir });
      await proxy.settle();
      record = await readRecord(stack.s3, bucket, ENVIRONMENT);
      const lambdas = [...world.gateway.lambdas().keys()].sort();
      expect(
        [
          ...exitProblems(rerun, true),
          ...gatewayReportMatches(rerun.files.json, names, world.gateway, record),
          ...gatewayRecordCovers(record, world.gateway),
          ...(JSON.stringify(lambdas) === JSON.stringify(names) ? [] : [`the deployment lambda holds ${lambdas.join(', ')}`]),
          ...(JSON.stringify(world.gateway.endpoints().get(API)) === JSON.stringify(names) ? [] : [`API ${API} has endpoints ${world.gateway.endpoints().get(API)?.join(', ')}`]),
          ...(record?.functions?.filter((f: { state: string }) => f.state === 'deployed').length === FUNCTIONS ? [] : ['the record does not say every function is deployed']),
        ],
        explain('gateway', 'fault-free rerun', proxy, rerun),
      ).toEqual([]);

      const empty = await makeProject({});
      const stop = await runCli(['stop'], { env: { ...env, CI_PROJECT_DIR: empty }, cwd: empty });
      expect(
        {
          code: stop.code,
          lambdas: [...world.gateway.lambdas().keys()],
          endpoints: world.gateway.endpoints().get(API) ?? [],
          record: await readRecord(stack.s3, bucket, ENVIRONMENT),
        },
        explain('gateway', 'stop', proxy, stop),
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
