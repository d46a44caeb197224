// First deploys of 20 and 50 functions against their computed lower bound, for `npm run bench`, plus a sweep of
// GESTALT_CONCURRENCY that the default is chosen from. Each scenario runs on fresh packages in a fresh bucket,
// so every package uploads and every function is created.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mapLimit } from '../../src/net/pool.js';
import { DEFAULT_CONCURRENCY } from '../../src/config/env.js';
import { gestaltConcurrency } from '../../src/gestalt/types.js';
import { startGatewayFake } from '../support/gateway-fake.js';
import { startMetaEmulator } from '../support/meta-emulator.js';
import { startOidcSts } from '../support/oidc-sts.js';
import { startS3 } from '../support/s3-server.js';
import { benchJobEnv, packages, timedRun } from './cli-runs.js';
import { median } from './startup.js';

const run = promisify(execFile);
export const GATEWAY_LATENCY_MS = 20;
export const META_LATENCY_MS = 50;
/**
 * Meta's lookups are two round trips one after another: the environment, its APIs and lambdas and the provider
 * side by side, then the endpoints of the API found (their listing needs the API's id).
 */
const META_LOOKUP_DEPTH = 2;
/** STS AssumeRoleWithWebIdentity answers in about this long from a runner in the same region. */
const STS_LATENCY_MS = 100;
const BENCH_ROLE = 'arn:aws:iam::111111111111:role/gitlab-deployer';
const SIZES = [20, 50];
const RUNS = 3;
export const SWEEP = [4, 8, 16, 32];
/** main before the pipelined deploy: all uploads, then all Gestalt writes, at concurrency 8. */
export const DEPLOY_BASELINE_COMMIT = '53b7168';

export interface DeployScenario {
  name: string;
  functions: number;
  latencyMs: number;
  /** Median wall time of the whole job (process start to exit) at the default concurrency. */
  ms: number;
  /** The runner's CPU time (user + system, every thread) in the run of median wall time. */
  cpuMs: number;
  boundMs: number;
  /** Gestalt calls per function on a first deploy, as the stand-in counted them. */
  callsPerFunction: number;
  /** n packages' HEAD+PUT at the runner's concurrency, straight from this process: what the store itself takes. */
  uploadFloorMs: number;
  /** The same calls from a fresh process with the product's S3 client, spawn to exit (test/bench/sdk-floor.ts). */
  sdkFloorMs: number;
  timingsMs: Record<string, number>;
  phaseSumsMs: Record<string, number>;
  /** Median wall time at each swept concurrency. */
  sweep: Record<number, number>;
  /** Median wall time of the bundle from DEPLOY_BASELINE_COMMIT (deploy phases one after another), interleaved. */
  beforeMs?: number;
}

export interface DeployBench {
  s3OpMs: number;
  s3PairMs: number;
  scenarios: DeployScenario[];
  /** Meta, 20 functions, credentials from an ID token at an STS answering after stsLatencyMs. */
  keyless: { functions: number; stsLatencyMs: number; ms: number; beforeMs?: number };
}

/**
 * What no runner can beat at its concurrency (c for S3, the Gestalt cap for Gestalt), doing this job: Node's start-up (a hello-world bundle); the
 * preflight (the Gestalt lookups, or one S3 read when longer); then the packages and the Gestalt writes,
 * whichever takes longer: all n packages' HEAD+PUT as fast as the store takes them at c in flight, plus the
 * last function's Gestalt calls, or the first package, then the Gestalt writes in waves of the Gestalt cap; then the
 * record's last write and the history entry (one S3 write each). Hashing 2 KiB packages and reading static
 * credentials cost next to nothing.
 */
export function deployBound(p: { helloMs: number; s3OpMs: number; s3PairMs: number; uploadFloorMs: number; functions: number; gestaltConcurrency: number; callsPerFunction: number; latencyMs: number; lookupDepth: number }): number {
  const preflight = Math.max(p.lookupDepth * p.latencyMs, p.s3OpMs);
  const gestaltCalls = p.callsPerFunction * p.latencyMs;
  const waves = Math.ceil(p.functions / p.gestaltConcurrency) * gestaltCalls;
  return p.helloMs + preflight + Math.max(p.uploadFloorMs + gestaltCalls, p.s3PairMs + waves) + 2 * p.s3OpMs;
}

/** n fresh 2 KiB packages' HEAD+PUT with `concurrency` in flight, from this process with the same SDK. */
async function uploadFloor(s3: { client: S3Client }, bucket: string, n: number, concurrency: number, round: number): Promise<number> {
  const started = performance.now();
  await mapLimit(Array.from({ length: n }, (_, i) => `floor/${round}/${n}/k${i}`), concurrency, async (Key) => {
    await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key })).catch(() => undefined);
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: randomBytes(2048) }));
  });
  return performance.now() - started;
}

export async function measureDeploys(script: string, helloMs: number, before?: string): Promise<DeployBench> {
  const s3 = await startS3();
  const meta = await startMetaEmulator({ apiKeys: { key: 'bench-secret' }, gatewayUrl: 'https://gw.bench.test' });
  const gw = await startGatewayFake();
  const cpuDir = await mkdtemp(join(tmpdir(), 'bench-cpu-'));
  let buckets = 0;
  try {
    const envId = meta.seedEnvironment();
    meta.seedApi(envId, { name: 'dev1' });
    const providerId = meta.seedLambdaProvider();
    // The floor of S3 calls as the stand-in serves them, measured in this process with the same SDK.
    await s3.createBucket('bench-floor');
    const ops: number[] = [];
    const pairs: number[] = [];
    for (let i = 0; i < 9; i++) {
      const t0 = performance.now();
      await s3.client.send(new HeadObjectCommand({ Bucket: 'bench-floor', Key: `k${i}` })).catch(() => undefined);
      const t1 = performance.now();
      await s3.client.send(new PutObjectCommand({ Bucket: 'bench-floor', Key: `k${i}`, Body: randomBytes(2048) }));
      ops.push(performance.now() - t1);
      pairs.push(performance.now() - t0);
    }
    const s3OpMs = median(ops);
    const s3PairMs = median(pairs);
    // Built under node_modules/.cache so its bare imports (the SDK) resolve to the repository's node_modules.
    const root = dirname(dirname(script));
    const sdkFloorScript = join(root, 'node_modules/.cache/gestalt-deploy/sdk-floor.mjs');
    await build({ entryPoints: [join(root, 'test/bench/sdk-floor.ts')], outfile: sdkFloorScript, bundle: true, platform: 'node', format: 'esm', target: 'node20', minify: true, mainFields: ['module', 'main'], banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" }, logLevel: 'warning' });
    const sdkFloors = new Map<number, number>();
    for (const n of SIZES) {
      const rounds: number[] = [];
      for (let round = 0; round < 3; round++) {
        const started = performance.now();
        await run(process.execPath, [sdkFloorScript, s3.endpoint, 'bench-floor', `sdk/${n}/${round}`, String(n), String(DEFAULT_CONCURRENCY)]);
        rounds.push(performance.now() - started);
      }
      sdkFloors.set(n, median(rounds));
    }
    const floors = new Map<number, number>();
    for (const n of SIZES) {
      const rounds: number[] = [];
      for (let round = 0; round < 3; round++) rounds.push(await uploadFloor(s3, 'bench-floor', n, DEFAULT_CONCURRENCY, round));
      floors.set(n, median(rounds));
    }

    // The runner's own CPU time, written at its exit by a preloaded module (test/bench/cpu-at-exit.mjs).
    const cpuPreload = `--import=${pathToFileURL(join(root, 'test/bench/cpu-at-exit.mjs')).href}`;
    /** One first deploy on fresh packages; undefined concurrency is the product's default. */
    const deployOnce = async (mode: 'gateway' | 'meta', n: number, concurrency?: number, bundle = script, extra: Record<string, string | undefined> = {}) => {
      const bucket = `bench-d${buckets++}`;
      await s3.createBucket(bucket);
      const dir = await packages(n);
      // A Gestalt environment of its own, so every run creates its lambdas and endpoints (the same names in a
      // shared one would make later runs updates, with fewer writes).
      const runEnvId = mode === 'meta' ? meta.seedEnvironment() : envId;
      if (mode === 'meta') meta.seedApi(runEnvId, { name: 'dev1' });
      const env = benchJobEnv(s3.endpoint, bucket, dir, runEnvId, {
        GESTALT_CONCURRENCY: concurrency === undefined ? undefined : String(concurrency),
        ...(mode === 'meta' ? { GESTALT_META_URL: meta.url, LAMBDA_HANDLER: 'index.js;handler', GESTALT_ORG: 'root', GESTALT_LAMBDA_PROVIDER_ID: providerId, GF_API_KEY: 'key', GF_API_SECRET: 'bench-secret' } : { CI_URL: gw.url }),
        ...extra,
        NODE_OPTIONS: cpuPreload,
        BENCH_CPU_FILE: join(cpuDir, `${bucket}.json`),
      });
      meta.clearRequests();
      gw.requests.length = 0;
      const run = await timedRun(bundle, ['deploy'], env, dir);
      const calls = mode === 'meta' ? meta.requests.filter((q) => q.method !== 'GET').length : gw.requests.filter((q) => q.method === 'POST').length;
      const { cpuMs } = JSON.parse(await readFile(join(cpuDir, `${bucket}.json`), 'utf8')) as { cpuMs: number };
      return { ms: run.ms, cpuMs, calls, json: run.r.files.json as { timingsMs: Record<string, number>; phaseSumsMs?: Record<string, number> } };
    };

    const scenarios: DeployScenario[] = [];
    for (const mode of ['gateway', 'meta'] as const) {
      const latencyMs = mode === 'meta' ? META_LATENCY_MS : GATEWAY_LATENCY_MS;
      meta.setLatency(mode === 'meta' ? latencyMs : 0);
      gw.setDelay(mode === 'gateway' ? latencyMs : 0);
      for (const n of SIZES) {
        const runs = [];
        const beforeRuns: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          runs.push(await deployOnce(mode, n));
          if (before) beforeRuns.push((await deployOnce(mode, n, undefined, before)).ms);
        }
        const mid = [...runs].sort((a, b) => a.ms - b.ms)[runs.length >> 1] as (typeof runs)[number];
        const sweep: Record<number, number> = {};
        for (const c of SWEEP) sweep[c] = median([await deployOnce(mode, n, c), await deployOnce(mode, n, c)].map((r) => r.ms));
        const callsPerFunction = mid.calls / n;
        const uploadFloorMs = floors.get(n) ?? 0;
        const boundMs = deployBound({ helloMs, s3OpMs, s3PairMs, uploadFloorMs, functions: n, gestaltConcurrency: gestaltConcurrency(DEFAULT_CONCURRENCY), callsPerFunction, latencyMs, lookupDepth: mode === 'meta' ? META_LOOKUP_DEPTH : 0 });
        scenarios.push({ name: `${mode} ${n}`, functions: n, latencyMs, ms: mid.ms, cpuMs: mid.cpuMs, boundMs, callsPerFunction, uploadFloorMs, sdkFloorMs: sdkFloors.get(n) ?? 0, timingsMs: mid.json.timingsMs, phaseSumsMs: mid.json.phaseSumsMs ?? {}, sweep, beforeMs: before ? median(beforeRuns) : undefined });
      }
    }
    // Keyless, as in GitLab: the ID token exchanged at an STS that takes STS_LATENCY_MS to answer. The Gestalt
    // lookups need no AWS credentials, so they overlap it; the bundle before did one after the other.
    const sts = await startOidcSts({ roles: [{ arn: BENCH_ROLE }] });
    let keyless: DeployBench['keyless'];
    try {
      (sts.roles[0] as { trust?: unknown }).trust = sts.trustPolicyFor('project_path:acme/lambdas:ref_type:branch:ref:main');
      sts.answerDelayMs = STS_LATENCY_MS;
      meta.setLatency(META_LATENCY_MS);
      const web = async () => ({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_ROLE_ARN: BENCH_ROLE, GESTALT_ID_TOKEN: await sts.mintToken({ environment: 'review/main' }), AWS_ENDPOINT_URL_STS: sts.stsUrl });
      const now: number[] = [];
      const then: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        now.push((await deployOnce('meta', 20, undefined, script, await web())).ms);
        if (before) then.push((await deployOnce('meta', 20, undefined, before, await web())).ms);
      }
      keyless = { functions: 20, stsLatencyMs: STS_LATENCY_MS, ms: median(now), beforeMs: before ? median(then) : undefined };
    } finally {
      await sts.close();
    }
    meta.setLatency(0);
    gw.setDelay(0);
    return { s3OpMs, s3PairMs, scenarios, keyless };
  } finally {
    await rm(cpuDir, { recursive: true, force: true });
    await gw.close();
    await meta.close();
    await s3.close();
  }
}

// Run alone: node scripts/run-ts.mjs test/bench/deploys.ts <bundle> <hello-ms>
if (process.argv[1]?.endsWith('deploys.ts') || process.env.GESTALT_BENCH_DEPLOYS_MAIN) {
  const [script, hello] = process.argv.slice(2);
  const out = await measureDeploys(script ?? 'dist/gestalt-deploy.js', Number(hello ?? 40));
  for (const s of out.scenarios) console.log(s.name, Math.round(s.ms), 'bound', Math.round(s.boundMs), (s.ms / s.boundMs).toFixed(2), JSON.stringify(s.timingsMs), JSON.stringify(s.phaseSumsMs), 'sweep', JSON.stringify(Object.fromEntries(Object.entries(s.sweep).map(([k, v]) => [k, Math.round(v)]))));
  console.log('s3 op', out.s3OpMs.toFixed(1), 'pair', out.s3PairMs.toFixed(1), 'upload floors', out.scenarios.map((s) => Math.round(s.uploadFloorMs)).join(' '));
}
