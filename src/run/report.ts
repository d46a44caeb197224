import type { Config } from '../config/types.js';
import { ConfigError, errorMessages, type ExitCode, type Problem } from '../errors.js';
import { missingCredentials } from '../credentials/missing.js';
import { CancelledError } from '../net/cancel.js';
import type { Logger } from '../log/logger.js';
import type { RunReport } from '../reports/types.js';
import { environmentUrl, summaryTable, writeReports } from '../reports/write.js';
import { VERSION } from '../version.js';

/**
 * The frame every command runs in: a report started before the body, the body's failure recorded in it,
 * and the report finished, written and summarised whatever happened. A command is only its own body.
 */
export async function withReport(config: Config, command: RunReport['command'], log: Logger, body: (report: RunReport) => Promise<ExitCode>): Promise<ExitCode> {
  const report = startReport(config, command);
  try {
    return await body(report);
  } catch (err) {
    const invalid = err instanceof ConfigError ? err : missingCredentials(err);
    report.errors.push(...errorMessages(invalid ?? err));
    if (invalid) markInvalid(report, invalid.problems);
    if (err instanceof CancelledError) report.status = 'cancelled';
    throw err;
  } finally {
    finishReport(report);
    await writeReports(config.outputDir, report);
    // plan prints its own table; deploy and stop end with the summary.
    if (command !== 'plan' && report.functions.length > 0) log.info(`\n${summaryTable(report)}`);
    if (report.environmentUrl) log.info(`\nEnvironment URL: ${report.environmentUrl}`);
  }
}

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
    // From the process's start to the command's: Node's start-up and loading the bundle's modules.
    timingsMs: { startup: Math.round(performance.now()) },
    totals: { functions: 0, failed: 0, bytesUploaded: 0 },
    functions: [],
    errors: [],
    ...(config.environmentUrlFunction ? { environmentUrlFunction: config.environmentUrlFunction } : {}),
    ...(config.warnings.length ? { warnings: config.warnings } : {}),
  };
}

/** A configuration error: the report says so and lists every problem; nothing remote was written. */
export function markInvalid(report: RunReport, problems: Problem[]): void {
  report.status = 'invalid';
  report.problems = problems;
}

/**
 * The report of a run stopped by its configuration before anything started: written like any other, so
 * a failed job still leaves gestalt-deploy.json (status invalid) saying why.
 */
export async function writeInvalidReport(config: Config, command: RunReport['command'], problems: Problem[]): Promise<void> {
  const report = startReport(config, command);
  markInvalid(report, problems);
  report.errors = problems.map((p) => `${p.variable}: ${p.message}`);
  await writeReports(config.outputDir, finishReport(report));
}

/** Fills the derived fields once every function has its line. */
export function finishReport(report: RunReport): RunReport {
  report.finishedAt = new Date().toISOString();
  // performance.now() counts from the process's start, so the total includes Node's start-up too.
  report.timingsMs.total = Math.round(performance.now());
  const failed = report.functions.filter((f) => f.error).length;
  report.totals = {
    functions: report.functions.length,
    failed,
    bytesUploaded: report.functions.reduce((n, f) => n + (f.bytesUploaded ?? 0), 0),
  };
  if (report.command !== 'stop') report.environmentUrl = environmentUrl(report);
  if (report.status !== 'invalid' && report.status !== 'cancelled' && (report.errors.length > 0 || failed > 0)) report.status = failed > 0 && failed < report.functions.length ? 'partial' : 'failed';
  return report;
}
