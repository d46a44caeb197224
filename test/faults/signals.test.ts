// A cancelled job: GitLab sends SIGTERM (a user's Ctrl-C is SIGINT) and the runner must start no new write,
// let in-flight calls finish or give them up within seconds, write the record and the reports, and exit 143
// (130). What it leaves must be what the record says, so a stop removes everything.
import { describe, expect, it } from 'vitest';
import { NOTHING_LEFT, metaDuplicates, metaLeft, metaRecordCovers, metaReportMatches, readRecord, startMetaWorld, stopAndLook, type MetaWorld } from '../support/deploy-state.js';
import { randomInt, seededRandom } from '../support/prng.js';
import { runCli, type CliResult } from '../support/run-cli.js';
import { signalWhen, type SignalAt } from '../support/signal.js';
import { GF_SECRET, freshBucket, s3Env, useDeployFixture } from '../integration/setup.js';
import { RUNS, seeds } from './fault-run.js';

const ENVIRONMENT = 'review/main';
const FUNCTIONS = 20;
const CONCURRENCY = 4;
/** Per-request latency of the emulator: long enough that a signal finds calls in flight. */
const LATENCY_MS = 40;
/** Seeded signal points: the signal goes out once Meta has seen this many requests (a full run makes ≥ 45). */
const point = (seed: number) => ({ seed, after: randomInt(seededRandom(seed), 1, 44) });

const fx = useDeployFixture(FUNCTIONS);

interface Cancelled {
  r: CliResult;
  sig: SignalAt;
  bucket: string;
  env: Record<string, string>;
}

async function cancelledDeploy(world: MetaWorld, sig: SignalAt, extra: Record<string, string> = {}): Promise<Cancelled> {
  const bucket = await freshBucket(fx.stack);
  const env = s3Env(fx.stack, bucket, { CI_PROJECT_DIR: fx.dir, ...world.vars(), GESTALT_CONCURRENCY: String(CONCURRENCY), ...extra });
  const r = await runCli(['deploy'], { env, cwd: fx.dir, timeoutMs: 30_000, onSpawn: sig.onSpawn });
  return { r, sig, bucket, env };
}

/** What must hold after any cancelled deploy, whatever point the signal hit. */
async function cancelledProblems({ r, sig, bucket }: Cancelled, world: MetaWorld, code: number, graceMs: number): Promise<string[]> {
  const signalled = sig.sentAt[0];
  if (signalled === undefined) return ['the run ended before the signal was sent'];
  const problems: string[] = [];
  if (r.code !== code) problems.push(`exit ${r.code}, expected ${code}`);
  const tookMs = (sig.exitedAt ?? Date.now()) - signalled;
  if (tookMs > graceMs) problems.push(`exited ${tookMs} ms after the signal, more than ${graceMs} ms`);
  if (r.files.json?.status !== 'cancelled') problems.push(`gestalt-deploy.json has status ${JSON.stringify(r.files.json?.status)}, not "cancelled"`);
  // A call sent just before the signal may arrive just after it, and on a loaded machine a worker may send one more
  // before the process gets to run its signal handler: at most two per worker. More is new work.
  const late = world.meta.requests.filter((q) => q.method !== 'GET' && q.at > signalled);
  if (late.length > 2 * CONCURRENCY) problems.push(`${late.length} Gestalt writes arrived after the signal: ${late.map((q) => `${q.method} ${q.path}`).slice(0, 4).join(', ')}…`);
  const record = await readRecord(fx.stack.s3, bucket, ENVIRONMENT);
  problems.push(...metaReportMatches(r.files.json, fx.names, world.meta, record, false));
  problems.push(...metaRecordCovers(record, world.meta));
  problems.push(...metaDuplicates(world.meta));
  return problems;
}

async function stopLeavesNothing({ bucket, env }: Cancelled, world: MetaWorld): Promise<void> {
  const { left, output } = await stopAndLook(env, fx.stack.s3, bucket, ENVIRONMENT, metaLeft(world.meta));
  expect(left, output).toEqual(NOTHING_LEFT);
}

async function withWorld(body: (world: MetaWorld) => Promise<void>): Promise<void> {
  const world = await startMetaWorld(GF_SECRET);
  try {
    await body(world);
  } finally {
    await world.close();
  }
}

const describePoint = (p: { seed: number; after: number }) => `seed ${p.seed}: once Meta has seen ${p.after} request(s)`;

describe(`a meta deploy of ${FUNCTIONS} functions cancelled at ${RUNS} seeded point(s)`, () => {
  it.each(seeds(11).map((seed) => [describePoint(point(seed)), point(seed)] as const))('SIGTERM %s: exit 143, no new writes, report and record match Meta; stop leaves nothing', async (_label, p) => {
    await withWorld(async (world) => {
      world.meta.setLatency(LATENCY_MS);
      const sig = signalWhen(() => world.meta.requests.length >= p.after, 'SIGTERM');
      const run = await cancelledDeploy(world, sig);
      world.meta.setLatency(0);
      expect(await cancelledProblems(run, world, 143, 5000), `${describePoint(p)}; repeat with GESTALT_FAULT_SEED=${p.seed} GESTALT_FAULT_RUNS=1 npm run test:faults\n${run.r.output.slice(-3000)}`).toEqual([]);
      await stopLeavesNothing(run, world);
    });
  });

  it('SIGINT: exit 130, with the same guarantees', async () => {
    const p = point((seeds(11)[0] ?? 11) + 1000);
    await withWorld(async (world) => {
      world.meta.setLatency(LATENCY_MS);
      const sig = signalWhen(() => world.meta.requests.length >= p.after, 'SIGINT');
      const run = await cancelledDeploy(world, sig);
      world.meta.setLatency(0);
      expect(await cancelledProblems(run, world, 130, 5000), `${describePoint(p)}\n${run.r.output.slice(-3000)}`).toEqual([]);
      await stopLeavesNothing(run, world);
    });
  });
});

describe('cancelled while lambda creates hang (Meta stored them but never answers)', () => {
  const hang = (world: MetaWorld) =>
    world.meta.injectFailure({ kind: 'timeout', afterHandling: true, count: 1000, match: (q) => q.method === 'POST' && q.path.endsWith('/lambdas') });
  const allWorkersStuck = (world: MetaWorld) => () => world.meta.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/lambdas')).length >= CONCURRENCY;

  it('one SIGTERM: the hung calls are given up within seconds, not after their 60 s timeout; the record names every stored lambda; stop removes them', async () => {
    await withWorld(async (world) => {
      hang(world);
      const sig = signalWhen(allWorkersStuck(world), 'SIGTERM');
      const run = await cancelledDeploy(world, sig, { GESTALT_HTTP_TIMEOUT: '60' });
      expect(await cancelledProblems(run, world, 143, 10_000), run.r.output.slice(-3000)).toEqual([]);
      expect(world.meta.lambdas()).toHaveLength(CONCURRENCY);
      world.meta.clearFailures();
      await stopLeavesNothing(run, world);
    });
  });

  it('a second SIGTERM exits at once', async () => {
    await withWorld(async (world) => {
      hang(world);
      const sig = signalWhen(allWorkersStuck(world), 'SIGTERM', { againAfterMs: 300 });
      const { r } = await cancelledDeploy(world, sig, { GESTALT_HTTP_TIMEOUT: '60' });
      expect(sig.sentAt, r.output).toHaveLength(2);
      expect(r.code, r.output).toBe(143);
      expect((sig.exitedAt ?? Infinity) - (sig.sentAt[1] ?? 0), r.output).toBeLessThan(2000);
    });
  });
});
