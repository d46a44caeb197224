import type { Config } from '../config/types.js';
import { EXIT, errorMessage, type ExitCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { mapLimit } from '../net/pool.js';
import type { DeploymentRecord, RecordedFunction } from '../record/types.js';
import type { FunctionReport } from '../reports/types.js';
import type { GestaltTarget } from '../gestalt/types.js';
import { summaryTable, writeReports } from '../reports/write.js';
import { openContext, timed } from './context.js';
import { finishReport, startReport } from './report.js';

/**
 * Removes what the environment's record lists (endpoints, then functions), then the record. Needs no
 * checkout and no LAMBDA_* variables: the record says where everything is.
 */
export async function runStop(config: Config, log: Logger): Promise<ExitCode> {
  const report = startReport(config, 'stop');
  const timings = report.timingsMs;
  try {
    const ctx = await openContext(config, log, timings);
    const { records, target } = ctx;
    const { job } = config;
    report.record = records.uri(job.environment);
    const record = await timed(timings, 'lookup', () =>
      log.section('lookup', `Deployment record ${records.uri(job.environment)}`, async () => {
        const found = (await records.read(job.environment)) ?? (await discovered(config, ctx.target, log));
        if (found) await target.prepare(found.api && found.environmentId ? { api: found.api, environmentId: found.environmentId } : undefined, 'stop');
        return found;
      }),
    );
    if (!record || record.functions.length === 0) {
      log.info(`Nothing to stop: no deployment record for environment '${job.environment}' (already stopped, or never deployed).`);
      if (record) await records.remove(job.environment);
      report.status = 'nothing-to-do';
      return EXIT.ok;
    }
    const results = await timed(timings, 'remove', () =>
      log.section('remove', `Remove ${record.functions.length} function(s) from ${target.label}`, () =>
        mapLimit(record.functions, config.concurrency, async (fn): Promise<{ fn: RecordedFunction; line: FunctionReport }> => {
          try {
            const r = await target.remove(fn, record);
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
  } catch (err) {
    report.errors.push(errorMessage(err));
    throw err;
  } finally {
    finishReport(report);
    await writeReports(config.outputDir, report);
    if (report.functions.length > 0) log.info(`\n${summaryTable(report)}`);
  }
}

/** No record (deleted by hand, or a deploy from before records): meta mode can still find this ref's functions by name. */
async function discovered(config: Config, target: GestaltTarget, log: Logger): Promise<DeploymentRecord | undefined> {
  const { job } = config;
  if (target.mode !== 'meta' || !config.environmentId || !job.projectName || !job.ref) return undefined;
  await target.prepare({ api: config.api ?? '', environmentId: config.environmentId }, 'stop');
  const prefix = `${job.projectName}/${job.ref}/`;
  const functions = await target.discover(prefix);
  if (functions.length === 0) return undefined;
  log.info(`No deployment record; found ${functions.length} function(s) named ${prefix}… in environment ${config.environmentId}.`);
  return {
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
}
