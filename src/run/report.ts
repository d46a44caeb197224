import type { Config } from '../config/types.js';
import { VERSION } from '../version.js';
import type { RunReport } from '../reports/types.js';
import { environmentUrl } from '../reports/write.js';

export function startReport(config: Config, command: RunReport['command']): RunReport {
  return {
    tool: 'gestalt-deploy',
    version: VERSION,
    command,
    status: 'success',
    mode: config.target.mode,
    environment: config.job.environment,
    project: config.job.projectPath,
    ref: config.job.ref,
    sha: config.job.sha,
    jobUrl: config.job.jobUrl || undefined,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    timingsMs: {},
    totals: { functions: 0, failed: 0, bytesUploaded: 0 },
    functions: [],
    errors: [],
  };
}

/** Fills the derived fields once every function has its line. */
export function finishReport(report: RunReport): RunReport {
  report.finishedAt = new Date().toISOString();
  const failed = report.functions.filter((f) => f.error).length;
  report.totals = {
    functions: report.functions.length,
    failed,
    bytesUploaded: report.functions.reduce((n, f) => n + (f.bytesUploaded ?? 0), 0),
  };
  if (report.command !== 'stop') report.environmentUrl = environmentUrl(report);
  if (report.errors.length > 0 || failed > 0) report.status = failed > 0 && failed < report.functions.length ? 'partial' : 'failed';
  return report;
}
