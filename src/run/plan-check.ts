import { readFile } from 'node:fs/promises';
import type { PackagedFunction } from '../artifacts/functions.js';
import type { Config } from '../config/types.js';
import { ConfigError, RemoteError } from '../errors.js';
import type { GestaltSession } from '../gestalt/types.js';
import type { Logger } from '../log/logger.js';
import type { RecordVersion } from '../record/store.js';
import type { ObservedState, ReviewedFunction, ReviewedPlan } from '../reports/types.js';
import { packageKey } from '../storage/packages.js';

/**
 * What a plan (or a deploy, just before its first write) read: per function the package's sha256 and what
 * Gestalt holds under its name, and the deployment record's version. `plan` stores it in gestalt-plan.json;
 * `deploy` with GESTALT_PLAN compares it with its own reading.
 */
export function reviewedState(config: Config, functions: PackagedFunction[], session: GestaltSession, version: RecordVersion): ReviewedPlan {
  return {
    schema: 1,
    environment: config.job.environment,
    project: config.job.projectPath,
    mode: config.target.mode,
    environmentId: config.environmentId,
    record: version.record ? (version.etag ?? 'unknown') : 'absent',
    functions: functions
      .map((fn): ReviewedFunction => ({ name: fn.name, packageKey: packageKey(config.storage, fn.sha256, fn.file), sha256: fn.sha256, gestalt: observed(session, fn.name) }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

function observed(session: GestaltSession, name: string): ObservedState {
  if (!session.observe) return 'unread';
  const found = session.observe(name);
  return found.length === 0 ? 'absent' : found;
}

/**
 * Before any write: the plan at `file` must describe exactly what this deploy sees now. Any difference
 * fails the run (exit 1) with one sentence per difference; a file that is no plan is a configuration error.
 */
export async function checkPlan(file: string, now: ReviewedPlan, log: Logger): Promise<void> {
  const planned = await readPlan(file);
  const differences = comparePlans(planned, now);
  if (differences.length > 0) {
    throw new RemoteError(`GESTALT_PLAN: the reviewed plan ${file} no longer holds, so nothing was changed: ${differences.join('; ')}. Run plan again, review it, and deploy that plan.`);
  }
  if (now.mode === 'gateway') log.info('GESTALT_PLAN: the deployment lambda offers no reads, so the plan was checked for package hashes and the deployment record only.');
  log.info(`GESTALT_PLAN: ${file} still holds (${now.functions.length} function(s), packages and Gestalt state unchanged); deploying it.`);
}

async function readPlan(file: string): Promise<ReviewedPlan> {
  const problem = (message: string) => new ConfigError([{ variable: 'GESTALT_PLAN', message }]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw problem(`${file} cannot be read as JSON (${err instanceof Error ? err.message : String(err)}); give the gestalt-plan.json the plan job wrote.`);
  }
  const report = parsed as { command?: unknown; reviewed?: ReviewedPlan };
  if (report.command !== 'plan') throw problem(`${file} is not a plan report (gestalt-plan.json from gestalt-deploy plan).`);
  if (report.reviewed?.schema !== 1 || !Array.isArray(report.reviewed.functions)) throw problem(`${file} does not record what the plan read (written by an older version); run plan again with this version.`);
  return report.reviewed;
}

/** Every way `now` differs from `planned`, as phrases for one sentence; empty when the plan still holds. */
export function comparePlans(planned: ReviewedPlan, now: ReviewedPlan): string[] {
  const out: string[] = [];
  for (const field of ['project', 'environment', 'mode', 'environmentId'] as const) {
    if ((planned[field] ?? '') !== (now[field] ?? '')) out.push(`the plan is for ${field} '${planned[field] ?? ''}', this job's is '${now[field] ?? ''}'`);
  }
  if (planned.record !== now.record) out.push(`the deployment record changed since the plan (another job wrote it: ${planned.record === 'absent' ? 'it now exists' : now.record === 'absent' ? 'it was removed' : 'a new version'})`);
  const before = new Map(planned.functions.map((f) => [f.name, f]));
  const after = new Map(now.functions.map((f) => [f.name, f]));
  for (const name of before.keys()) if (!after.has(name)) out.push(`'${name}' was planned but is not in this deploy`);
  for (const [name, f] of after) {
    const p = before.get(name);
    if (!p) {
      out.push(`'${name}' is in this deploy but was not planned`);
      continue;
    }
    if (p.sha256 !== f.sha256) out.push(`the package of '${name}' changed (sha256 ${p.sha256.slice(0, 12)}… planned, ${f.sha256.slice(0, 12)}… now)`);
    const seen = describe(p.gestalt);
    const current = describe(f.gestalt);
    if (seen !== current) out.push(`Gestalt's lambda '${name}' changed since the plan (${seen} planned, ${current} now)`);
  }
  return out;
}

function describe(state: ObservedState): string {
  if (typeof state === 'string') return state;
  return state.map((s) => `${s.id} digest ${s.digest.slice(0, 12)}…`).join(', ');
}
