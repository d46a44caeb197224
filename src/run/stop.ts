import type { Config } from '../config/types.js';
import { EXIT, errorMessage, type ExitCode } from '../errors.js';
import type { GestaltSession } from '../gestalt/types.js';
import type { Logger } from '../log/logger.js';
import { mapLimit } from '../net/pool.js';
import type { DeploymentRecord, RecordedFunction } from '../record/types.js';
import type { FunctionReport } from '../reports/types.js';
import { openContext, timed, type RunContext } from './context.js';
import { withReport } from './report.js';

/**
 * Removes what the environment's record lists (endpoints, then functions), then the record. Needs no
 * checkout and no LAMBDA_* variables: the record says where everything is.
 */
export async function runStop(config: Config, log: Logger): Promise<ExitCode> {
  return withReport(config, 'stop', log, async (report) => {
    const timings = report.timingsMs;
    const ctx = await openContext(config, log, timings);
    const { records, target } = ctx;
    const { job } = config;
    report.record = records.uri(job.environment);
    const found = await timed(timings, 'lookup', () =>
      log.section('lookup', `Deployment record ${records.uri(job.environment)}`, async () => {
        const recorded = await records.read(job.environment);
        if (!recorded) return discovered(ctx, log);
        const session = await target.open(recorded.api && recorded.environmentId ? { api: recorded.api, environmentId: recorded.environmentId } : undefined, 'stop');
        return { record: recorded, session };
      }),
    );
    const record = found?.record;
    if (!found || !record || record.functions.length === 0) {
      log.info(`Nothing to stop: no deployment record for environment '${job.environment}' (already stopped, or never deployed).`);
      if (record) await records.remove(job.environment);
      report.status = 'nothing-to-do';
      return EXIT.ok;
    }
    const { session } = found;
    const results = await timed(timings, 'remove', () =>
      log.section('remove', `Remove ${record.functions.length} function(s) from ${target.label}`, () =>
        mapLimit(record.functions, config.concurrency, async (fn): Promise<{ fn: RecordedFunction; line: FunctionReport }> => {
          try {
            const r = await session.remove(fn, record);
            log.info(`  ${fn.name}: ${r.outcome === 'removed' ? `removed (${r.endpoints} endpoint(s))` : 'already gone'}`);
            return { fn, line: { name: fn.name, file: fn.file, action: r.outcome, endpoint: `${r.endpoints} removed`, packageKey: fn.packageKey, sha256: fn.sha256, id: fn.id } };
          } catch (err) {
            log.error(errorMessage(err));
            return { fn, line: { name: fn.name, file: fn.file, action: 'failed', packageKey: fn.packageKey, id: fn.id, error: errorMessage(err) } };
          }
        }),
      ),
    );
    report.functions = results.map((r) => r.line);
    const left = results.filter((r) => r.line.error).map((r) => r.fn);
    await timed(timings, 'record', async () => {
      if (left.length === 0) {
        await records.remove(job.environment);
        log.info(`Removed the deployment record ${records.uri(job.environment)}.`);
      } else {
        // Keep what could not be removed, so the next stop retries exactly those.
        await records.write({ ...record, functions: left, updatedAt: new Date().toISOString() });
        log.info(`Kept ${left.length} function(s) in ${records.uri(job.environment)} for the next stop.`);
      }
    });
    return left.length > 0 ? EXIT.remote : EXIT.ok;
  });
}

/** No record (deleted by hand, or a deploy from before records): meta mode can still find this ref's functions by name. */
async function discovered({ config, target }: RunContext, log: Logger): Promise<{ record: DeploymentRecord; session: GestaltSession } | undefined> {
  const { job } = config;
  if (target.mode !== 'meta' || !config.environmentId || !job.projectName || !job.ref) return undefined;
  const session = await target.open({ api: config.api ?? '', environmentId: config.environmentId }, 'stop');
  const prefix = `${job.projectName}/${job.ref}/`;
  const functions = await session.discover(prefix);
  if (functions.length === 0) return undefined;
  log.info(`No deployment record; found ${functions.length} function(s) named ${prefix}… in environment ${config.environmentId}.`);
  const record: DeploymentRecord = {
    schema: 1,
    environment: job.environment,
    mode: 'meta',
    project: { name: job.projectName, path: job.projectPath, id: job.projectId },
    ref: job.ref,
    sha: job.sha,
    pipelineId: job.pipelineId,
    jobUrl: job.jobUrl,
    updatedAt: new Date().toISOString(),
    api: config.api,
    environmentId: config.environmentId,
    functions,
  };
  return { record, session };
}
