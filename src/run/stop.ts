import type { Config } from '../config/types.js';
import { EXIT, type ExitCode } from '../errors.js';
import type { GestaltSession } from '../gestalt/types.js';
import type { Logger } from '../log/logger.js';
import { cancellation } from '../net/cancel.js';
import { entryKey } from '../record/journal.js';
import type { RecordVersion } from '../record/store.js';
import type { DeploymentRecord } from '../record/types.js';
import type { RunReport } from '../reports/types.js';
import { cancelledExit, openContext, readRecord, recordHeader, timed, type RunContext } from './context.js';
import { removeRecorded } from './remove.js';
import { withReport } from './report.js';
import { closest } from '../config/closest.js';

/**
 * Removes what the environment's record lists (endpoints, then functions), then the record. Needs no
 * checkout and no LAMBDA_* variables: the record says where everything is. Whatever cannot be proven to
 * be this environment's is refused and stays in the record.
 */
export async function runStop(config: Config, log: Logger): Promise<ExitCode> {
  return withReport(config, 'stop', log, async (report) => stopEnvironment(await openContext(config, log, report.timingsMs), report));
}

/** What a stop job does, for the environment `ctx.config.job` names: prune runs it once per stale environment. */
export async function stopEnvironment(ctx: RunContext, report: RunReport): Promise<ExitCode> {
  const { config, log } = ctx;
  const timings = report.timingsMs;
  const { records, target } = ctx;
  const { job } = config;
  report.record = records.uri(job.environment);
  const found = await timed(timings, 'lookup', () =>
    log.section('lookup', `Deployment record ${records.uri(job.environment)}`, async () => {
      const version = await readRecord(ctx);
      const recorded = version.record;
      if (!recorded) return discovered(ctx, log);
      const environmentId = recorded.environmentId ?? config.environmentId;
      const session = await target.open(environmentId ? { api: recorded.api ?? config.api ?? '', environmentId } : undefined, 'stop');
      return { record: recorded, version, session };
    }),
  );
  if (!found || found.record.functions.length === 0) {
    log.info(`Nothing to stop: no deployment record for environment '${job.environment}' and nothing of it found in Gestalt (already stopped, or never deployed).`);
    if (!found) await warnNearMiss(ctx, log);
    if (found?.version?.record) await records.update(job.environment, (current) => (current && current.functions.length > 0 ? current : undefined), found.version);
    report.status = 'nothing-to-do';
    return EXIT.ok;
  }
  const { record, session, version } = found;
  const results = await timed(timings, 'remove', () =>
    log.section('remove', `Remove ${record.functions.length} function(s) from ${target.label}`, () => removeRecorded(ctx, session, record, record.functions)),
  );
  report.functions = results.map((r) => r.line);
  const gone = new Set(results.filter((r) => !r.line.error).map((r) => entryKey(r.fn)));
  const left = await timed(timings, 'record', () => dropRemoved(ctx, version, gone, log));
  if (cancellation.signal) return cancelledExit(report, log);
  return left > 0 ? EXIT.remote : EXIT.ok;
}

/**
 * Takes what was removed out of the record as it is in S3 now (another job may have added entries), and
 * removes the record once nothing is left. Returns how many entries stay for the next stop.
 */
async function dropRemoved({ config, records, history }: RunContext, version: RecordVersion | undefined, gone: Set<string>, log: Logger): Promise<number> {
  const environment = config.job.environment;
  const next = await records.update(
    environment,
    (current) => {
      if (!current) return undefined;
      const functions = current.functions.filter((f) => !gone.has(entryKey(f)));
      // Nothing removed (all refused or failed): the record stays exactly as it was.
      if (functions.length === current.functions.length) return current;
      return functions.length > 0 ? { ...current, functions, updatedAt: new Date().toISOString() } : undefined;
    },
    version,
  );
  if (next) log.info(`Kept ${next.functions.length} function(s) in ${records.uri(environment)} for the next stop.`);
  else if (version?.record) {
    await history.remove(environment);
    log.info(`Removed the deployment record ${records.uri(environment)} and its history.`);
  }
  return next?.functions.length ?? 0;
}

/**
 * "Already stopped" and "mistyped" look the same from the record's side; a record of a nearly identical name
 * is worth a warning (the stop still succeeds: stopping twice must stay harmless).
 */
async function warnNearMiss({ config, records }: RunContext, log: Logger): Promise<void> {
  const names = await records.environments().catch(() => []);
  const near = closest(config.job.environment, names.filter((n) => n !== config.job.environment));
  if (near) log.warn(`CI_ENVIRONMENT_NAME is '${config.job.environment}', which has no deployment; environment '${near}' has one. If this job should stop '${near}', fix the environment name of the stop job.`);
}

/** No record (deleted by hand, or lost): meta mode finds this environment's functions by their ownership marks. */
async function discovered(ctx: RunContext, log: Logger): Promise<{ record: DeploymentRecord; version: RecordVersion | undefined; session: GestaltSession } | undefined> {
  const { config, target } = ctx;
  if (target.mode !== 'meta' || !config.environmentId) return undefined;
  const session = await target.open({ api: config.api ?? '', environmentId: config.environmentId }, 'stop');
  const functions = await session.discover();
  if (functions.length === 0) return undefined;
  log.info(`No deployment record; found ${functions.length} function(s) marked as environment '${config.job.environment}' of ${config.job.projectPath} in Gestalt environment ${config.environmentId}.`);
  return { record: { schema: 2, ...recordHeader(config), functions }, version: undefined, session };
}
