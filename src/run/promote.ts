import type { Config } from '../config/types.js';
import { ConfigError, type ExitCode } from '../errors.js';
import { renderName } from '../artifacts/functions.js';
import type { Logger } from '../log/logger.js';
import { openContext, readRecord, timed } from './context.js';
import { applyEntry } from './rollback.js';
import { withReport } from './report.js';

/**
 * Build once, promote the reviewed bytes: the packages and settings of GESTALT_PROMOTE_FROM's latest
 * history entry, deployed into this job's environment under names rendered for it. No checkout, no upload.
 */
export async function runPromote(config: Config, log: Logger): Promise<ExitCode> {
  return withReport(config, 'promote', log, async (report) => {
    const ctx = await openContext(config, log, report.timingsMs);
    const from = config.lifecycle.promoteFrom as string;
    report.record = ctx.records.uri(config.job.environment);
    const [version, source] = await timed(report.timingsMs, 'lookup', () => Promise.all([readRecord(ctx), ctx.history.read(from)]));
    const latest = source.entries[0];
    if (!latest) throw new ConfigError([{ variable: 'GESTALT_PROMOTE_FROM', message: `environment '${from}' has no deployment history in ${ctx.history.uri(from)}; deploy it first, or name the environment to promote from.` }]);
    log.info(`Promoting '${from}' history entry #${latest.number} (commit ${latest.sha.slice(0, 8)}, pipeline ${latest.pipelineId}) into environment '${config.job.environment}'.`);
    // Names follow this environment's template (e.g. {env}); the packages and every setting stay as reviewed.
    return applyEntry(ctx, report, version, latest, { command: 'promote', from: `${from}#${latest.number}`, rename: (file) => renderName(config.nameTemplate, config.job, file) });
  });
}
