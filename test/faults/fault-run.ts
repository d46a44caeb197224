// What the seeded fault runs share: how many runs, which seeds, the fault mix, and a failure message that says
// how to repeat the run. `GESTALT_FAULT_RUNS=50 npm run test:faults` runs more; `GESTALT_FAULT_SEED=<seed>
// GESTALT_FAULT_RUNS=1` repeats one (the faults follow the seed and the order requests arrive in, which
// concurrency can shuffle a little, so a repeat is close to the original rather than identical).
import { describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy, type FaultRates } from '../support/fault-proxy.js';
import { runCli, type CliResult } from '../support/run-cli.js';
import { NOTHING_LEFT, isSuccess, readRecord, stopAndLook } from '../support/deploy-state.js';
import { freshBucket, s3Env, useDeployFixture } from '../integration/setup.js';

// Records and reports are untrusted JSON to the checks.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

export const FUNCTIONS = 20;
export const RATES: FaultRates = { transient: 0.2, dropped: 0.05, late: 0.02 };
/** The runner's per-request timeout in seconds, and how long a late write is held: past that timeout. */
export const TIMEOUT_S = 1;
export const LATE_MS = TIMEOUT_S * 1000 + 600;
export const FAULT_VARS = { GESTALT_HTTP_TIMEOUT: String(TIMEOUT_S), GESTALT_RETRY_ATTEMPTS: '6' } as const;

const runs = Number(process.env.GESTALT_FAULT_RUNS ?? '3');
if (!Number.isInteger(runs) || runs < 1) throw new Error(`GESTALT_FAULT_RUNS must be a positive integer, got '${process.env.GESTALT_FAULT_RUNS}'`);
export const RUNS = runs;

/**
 * Seeds of this file's runs. The default bases were picked so that each default run draws at least one dropped
 * answer and one late write among its first writes: the small run in `npm test` exercises every fault.
 */
export function seeds(defaultBase: number): number[] {
  const base = process.env.GESTALT_FAULT_SEED ? Number(process.env.GESTALT_FAULT_SEED) : defaultBase;
  if (!Number.isInteger(base)) throw new Error(`GESTALT_FAULT_SEED must be an integer, got '${process.env.GESTALT_FAULT_SEED}'`);
  return Array.from({ length: RUNS }, (_, i) => base + i);
}

/** Faults drawn over a file's runs, so the file can prove it exercised each kind. */
export class FaultTally {
  readonly totals = { transient: 0, dropped: 0, late: 0 };
  add(proxy: FaultProxy): void {
    for (const k of ['transient', 'dropped', 'late'] as const) this.totals[k] += proxy.counts[k];
  }
}

/** Exit code and report status agree with the lines: 0 only when every function deployed; never 2 or a crash. */
export function exitProblems(r: CliResult, expectSuccess: boolean): string[] {
  const lines = r.files.json?.functions ?? [];
  const ok = lines.length > 0 && lines.every(isSuccess);
  if (expectSuccess && r.code !== 0) return [`exit ${r.code}, expected 0`];
  if (r.code !== 0 && r.code !== 1) return [`exit ${r.code}, expected 0 or 1`];
  if (r.code === 0 && !ok) return ['exit 0, but the report has failed functions'];
  if (r.code === 1 && ok) return ['exit 1, but every function in the report succeeded'];
  return [];
}

export function explain(mode: string, phase: string, proxy: FaultProxy, r?: CliResult): string {
  const repeat = `repeat with GESTALT_FAULT_SEED=${proxy.seed} GESTALT_FAULT_RUNS=1 npm run test:faults`;
  const output = r ? `\n--- output (last 4000 chars) ---\n${r.output.slice(-4000)}` : '';
  return `${mode} mode, ${phase}, ${proxy.summary()}; ${repeat}${output}`;
}

/** One mode's stand-in for a run, and what "true" means for it after each phase. */
export interface FaultWorld {
  /** Where the fault proxy forwards to. */
  target: string;
  /** Job variables that reach the stand-in through `url` (the proxy). */
  vars(url: string): Record<string, string>;
  /** After the deploy under faults, once every late write has landed. */
  afterFaults(r: CliResult, record: Json, proxy: FaultProxy): string[];
  /** After the fault-free rerun: converged, every function exactly once. */
  afterRerun(r: CliResult, record: Json): string[];
  /** What still exists, for the stop's check. */
  left(): { lambdas: string[]; endpoints: string[] };
  close(): Promise<void>;
}

const ENVIRONMENT = 'review/main';

/**
 * N seeded runs of one mode: deploy 20 functions through the fault proxy, check, rerun without faults, check,
 * stop, check that nothing is left. Every failure message carries the seed and how to repeat the run.
 */
export function describeFaultRuns(mode: string, defaultSeed: number, start: (names: string[]) => Promise<FaultWorld>): void {
  const fx = useDeployFixture(FUNCTIONS);
  const tally = new FaultTally();

  describe(`${mode} mode under seeded faults (${RUNS} run(s) × ${FUNCTIONS} functions)`, () => {
    it.each(seeds(defaultSeed))('seed %i: report and record match the stand-in, nothing twice; a clean rerun converges; stop leaves nothing', async (seed) => {
      const world = await start(fx.names);
      const proxy = await startFaultProxy({ target: world.target, seed, rates: RATES, lateMs: LATE_MS });
      try {
        const bucket = await freshBucket(fx.stack);
        const env = s3Env(fx.stack, bucket, { CI_PROJECT_DIR: fx.dir, ...world.vars(proxy.url), ...FAULT_VARS });

        const deploy = await runCli(['deploy'], { env, cwd: fx.dir });
        await proxy.settle(); // every late write has landed: what exists now is what a later job finds
        tally.add(proxy);
        const afterFaults = await readRecord(fx.stack.s3, bucket, ENVIRONMENT);
        expect([...exitProblems(deploy, false), ...world.afterFaults(deploy, afterFaults, proxy)], explain(mode, 'deploy under faults', proxy, deploy)).toEqual([]);

        proxy.setRates({});
        const rerun = await runCli(['deploy'], { env, cwd: fx.dir });
        await proxy.settle();
        const afterRerun = await readRecord(fx.stack.s3, bucket, ENVIRONMENT);
        const deployed = (afterRerun?.functions ?? []).filter((f: Json) => f?.state === 'deployed').length;
        expect(
          [...exitProblems(rerun, true), ...world.afterRerun(rerun, afterRerun), ...(deployed === FUNCTIONS ? [] : [`the record says ${deployed} function(s) are deployed, not ${FUNCTIONS}`])],
          explain(mode, 'fault-free rerun', proxy, rerun),
        ).toEqual([]);

        const { left, output } = await stopAndLook(env, fx.stack.s3, bucket, ENVIRONMENT, () => world.left());
        expect(left, `${explain(mode, 'stop', proxy)}\n${output.slice(-3000)}`).toEqual(NOTHING_LEFT);
      } finally {
        await proxy.close();
        await world.close();
      }
    });

    it('the runs exercised every kind of fault', () => {
      for (const kind of ['transient', 'dropped', 'late'] as const) expect(tally.totals[kind], JSON.stringify(tally.totals)).toBeGreaterThan(0);
    });
  });
}
