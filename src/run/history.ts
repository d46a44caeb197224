import type { Config } from '../config/types.js';
import { EXIT, type ExitCode } from '../errors.js';
import { reportedEntry } from '../history/entry.js';
import type { HistoryEntry } from '../history/types.js';
import { formatTable } from '../log/format.js';
import type { Logger } from '../log/logger.js';
import { openContext, timed } from './context.js';
import { withReport } from './report.js';

/** The environment's deployments, newest first; needs no checkout. */
export async function runHistory(config: Config, log: Logger): Promise<ExitCode> {
  return withReport(config, 'history', log, async (report) => {
    const ctx = await openContext(config, log, report.timingsMs);
    const environment = config.job.environment;
    const history = await timed(report.timingsMs, 'lookup', () => ctx.history.read(environment));
    report.history = history.entries.map(reportedEntry);
    if (history.entries.length === 0) {
      log.info(`No history for environment '${environment}' in ${ctx.history.uri(environment)}: nothing was deployed there by this version yet.`);
      report.status = 'nothing-to-do';
      return EXIT.ok;
    }
    log.info(`\nHistory of environment '${environment}', newest first (${ctx.history.uri(environment)}):\n`);
    log.info(historyTable(history.entries));
    return EXIT.ok;
  });
}

export function historyTable(entries: HistoryEntry[]): string {
  const rows = entries.map((e) => [
    `#${e.number}`,
    e.at.replace(/\.\d+Z$/, 'Z'),
    e.sha.slice(0, 8),
    e.pipelineId,
    e.from ? `${e.command} (from ${e.from})` : e.command,
    e.functions.map((f) => f.name).join(', '),
  ]);
  return formatTable(['number', 'time', 'commit', 'pipeline', 'command', 'functions'], rows);
}
