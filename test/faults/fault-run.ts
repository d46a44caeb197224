// What the seeded fault runs share: how many runs, which seeds, the fault mix, and a failure message that says
// how to repeat the run. `GESTALT_FAULT_RUNS=50 npm run test:faults` runs more; `GESTALT_FAULT_SEED=<seed>
// GESTALT_FAULT_RUNS=1` repeats one (the faults follow the seed and the order requests arrive in, which
// concurrency can shuffle a little, so a repeat is close to the original rather than identical).
import type { FaultProxy, FaultRates } from '../support/fault-proxy.js';
import type { CliResult } from '../support/run-cli.js';
import { isSuccess } from '../support/deploy-state.js';

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
