import type { Config } from '../config/types.js';
import { ConfigError, RemoteError, type ExitCode } from '../errors.js';
import { packagedFromHistory } from '../history/entry.js';
import type { HistoryEntry } from '../history/types.js';
import type { Logger } from '../log/logger.js';
import { mapLimit } from '../net/pool.js';
import type { RecordVersion } from '../record/store.js';
import { s3Uri } from '../storage/client.js';
import { openContext, readRecord, timed, type RunContext } from './context.js';
import { converge } from './deploy.js';
import { withReport } from './report.js';

/**
 * Converges the environment to an earlier entry of its history from the recorded packages: no checkout,
 * no upload. Every package is proven present with its sha256 before the first change.
 */
export async function runRollback(config: Config, log: Logger): Promise<ExitCode> {
  return withReport(config, 'rollback', log, async (report) => {
    const ctx = await openContext(config, log, report.timingsMs);
    const environment = config.job.environment;
    report.record = ctx.records.uri(environment);
    const [version, history] = await timed(report.timingsMs, 'lookup', () => Promise.all([readRecord(ctx), ctx.history.read(environment)]));
    const target = rollbackTarget(history.entries, config.lifecycle.rollbackTo, ctx.history.uri(environment));
    log.info(`Rolling environment '${environment}' back to history entry #${target.number} (${target.command} of commit ${target.sha.slice(0, 8)}, pipeline ${target.pipelineId}, ${target.at}).`);
    return applyEntry(ctx, report, version, target, { command: 'rollback', from: `#${target.number}` });
  });
}

/** What rollback and promote share: prove the packages, open Gestalt where the functions live, converge. */
export async function applyEntry(
  ctx: RunContext,
  report: Parameters<typeof converge>[0]['report'],
  version: RecordVersion,
  target: HistoryEntry,
  how: { command: 'rollback' | 'promote'; from: string; rename?: (file: string) => string },
): Promise<ExitCode> {
  const { config, log } = ctx;
  const functions = target.functions.map((f) => packagedFromHistory(f, `history #${target.number}`, how.rename?.(f.file) ?? f.name));
  await timed(report.timingsMs, 'verify', () => log.section('packages', `Check ${functions.length} recorded package(s)`, () => provePackages(ctx, target)));
  const api = config.api ?? version.record?.api;
  const environmentId = config.environmentId ?? version.record?.environmentId;
  if (!api || !environmentId) {
    throw new ConfigError([{ variable: api ? 'LAMBDA_ENVIRONMENT_ID' : 'LAMBDA_API', message: `is not set and the deployment record ${ctx.records.uri(config.job.environment)} does not name it; set it to where environment '${config.job.environment}' is deployed.` }]);
  }
  // The record this run writes must say where the functions live, as a deploy's would.
  const placed: RunContext = { ...ctx, config: { ...config, api, environmentId } };
  const session = await timed(report.timingsMs, 'lookup', () => log.section('lookup', `Gestalt: ${ctx.target.label}`, () => ctx.target.open({ api, environmentId }, 'deploy')));
  return converge({ report, ctx: placed, version, session, functions, command: how.command, packagesInPlace: true, removeOthers: true, from: { label: how.from, sha: target.sha, ref: target.ref } });
}

/** GESTALT_ROLLBACK_TO as a history number or a commit SHA prefix; unset: the entry before the newest. */
export function rollbackTarget(entries: HistoryEntry[], to: string | undefined, where: string): HistoryEntry {
  if (to === undefined) {
    const previous = entries[1];
    if (!previous) throw new ConfigError([{ variable: 'GESTALT_ROLLBACK_TO', message: `is not set and ${where} holds ${entries.length === 0 ? 'no deployment' : 'only the current deployment'}, so there is nothing earlier to roll back to; nothing was changed.` }]);
    return previous;
  }
  const byNumber = /^\d+$/.test(to) ? entries.find((e) => e.number === Number(to)) : undefined;
  const bySha = to.length >= 7 ? entries.find((e) => e.sha.toLowerCase().startsWith(to.toLowerCase())) : undefined;
  const found = byNumber ?? bySha;
  if (!found) {
    const known = entries.map((e) => `#${e.number} ${e.sha.slice(0, 8)}`).join(', ') || 'none';
    throw new ConfigError([{ variable: 'GESTALT_ROLLBACK_TO', message: `'${to}' matches no entry of ${where} (kept: ${known}); use a number or commit from gestalt-deploy history. Nothing was changed.` }]);
  }
  return found;
}

async function provePackages(ctx: RunContext, entry: HistoryEntry): Promise<void> {
  const { packages, config, log } = ctx;
  const problems = await mapLimit(entry.functions, config.concurrency, async (f) => {
    const why = await packages.mismatch(f.packageKey, f.sha256, f.size);
    if (!why) log.info(`  ${f.name}: ${f.packageKey} present, sha256 ${f.sha256.slice(0, 12)}…`);
    return why ? `${s3Uri(config.storage.bucket, f.packageKey)} (${f.name}) ${why}` : undefined;
  });
  const bad = problems.filter((p): p is string => p !== undefined);
  if (bad.length > 0) throw new RemoteError(`Cannot restore history entry #${entry.number}: ${bad.join('; ')}. Nothing was changed; pick another entry with GESTALT_ROLLBACK_TO (see gestalt-deploy history), or redeploy from the pipeline.`);
}
