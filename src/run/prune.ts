import type { Config } from '../config/types.js';
import { environmentMatcher } from '../config/environment-glob.js';
import { EXIT, errorMessage, type ExitCode } from '../errors.js';
import { createTarget } from '../gestalt/create.js';
import { packageSha, ReferenceSet } from '../history/references.js';
import type { Logger } from '../log/logger.js';
import { cancellation } from '../net/cancel.js';
import { createHttpClient } from '../net/http.js';
import { recordUpdatedAt, scanDeployments, type DeploymentDocument } from '../record/scan.js';
import type { RunReport } from '../reports/types.js';
import { s3Uri } from '../storage/client.js';
import { deleteObjects, listObjects, type ListedObject } from '../storage/listing.js';
import { cancelledExit, openContext, timed, type RunContext } from './context.js';
import { startReport, withReport } from './report.js';
import { stopEnvironment } from './stop.js';

const DAY_MS = 86_400_000;
/** Package objects one prune looks at; the rest wait for the next scheduled run. */
export const PACKAGES_CAP = 100_000;

/**
 * For a scheduled pipeline, over every environment under S3_PREFIX: stops the environments matching
 * GESTALT_PRUNE_ENVIRONMENTS whose record is older than GESTALT_PRUNE_AFTER_DAYS (exactly as their stop job
 * would), then deletes the package objects older than GESTALT_PRUNE_PACKAGES_DAYS that no record and no kept
 * history entry names. With --dry-run it only lists.
 */
export async function runPrune(config: Config, log: Logger): Promise<ExitCode> {
  return withReport(config, 'prune', log, async (report) => {
    const { dryRun, pruneEnvironments, pruneAfterDays, prunePackagesDays } = config.lifecycle;
    const pruned = { dryRun, packages: [] as string[], environments: [] as string[] };
    report.pruned = pruned;
    const ctx = await openContext(config, log, report.timingsMs);
    const verb = dryRun ? 'would ' : '';
    let failed = false;

    const before = await timed(report.timingsMs, 'lookup', () => scanDeployments(ctx.s3, config.storage, config.concurrency));
    const matches = environmentMatcher(pruneEnvironments);
    const stale = before.filter((d) => d.kind === 'record' && matches(d.environment) && isOld(recordUpdatedAt(d.document), pruneAfterDays));
    if (pruneEnvironments.length === 0) log.info('GESTALT_PRUNE_ENVIRONMENTS is not set: no environment is stopped.');
    else log.info(`${stale.length} environment(s) match ${pruneEnvironments.join(' ')} and were not updated for ${pruneAfterDays} day(s).`);
    for (const d of stale) {
      if (cancellation.signal) return cancelledExit(report, log);
      const at = recordUpdatedAt(d.document)?.toISOString() ?? '?';
      if (dryRun) {
        log.info(`  would stop '${d.environment}' (record updated ${at})`);
        pruned.environments.push(d.environment);
        continue;
      }
      log.info(`Stopping '${d.environment}' (record updated ${at}):`);
      const ok = await stopOne(ctx, d.environment, report);
      if (ok) pruned.environments.push(d.environment);
      else failed = true;
    }

    // Read again after the stops: what they removed names nothing now, and a deploy meanwhile may name more.
    const documents = dryRun ? before.filter((d) => !pruned.environments.includes(d.environment)) : await timed(report.timingsMs, 'lookup', () => scanDeployments(ctx.s3, config.storage, config.concurrency));
    const packagesPrefix = `${config.storage.prefix}/packages/`;
    const listing = await timed(report.timingsMs, 'lookup', () => listObjects(ctx.s3, config.storage.bucket, packagesPrefix, PACKAGES_CAP));
    if (listing.capped) log.warn(`${s3Uri(config.storage.bucket, packagesPrefix)} holds more than ${PACKAGES_CAP} objects; this run looks at the first ${PACKAGES_CAP} only, the next run at the rest that are still there.`);
    const candidates = unreferencedOld(listing.objects, packagesPrefix, references(documents), prunePackagesDays);
    log.info(`${listing.objects.length} package object(s) under ${s3Uri(config.storage.bucket, packagesPrefix)}; ${candidates.length} ${verb}be deleted (named by no record or kept history entry, older than ${prunePackagesDays} day(s)).`);
    for (const key of candidates) log.info(`  ${verb}delete ${key}`);
    if (dryRun || candidates.length === 0) pruned.packages = candidates;
    else {
      const outcome = await timed(report.timingsMs, 'delete', () => deleteObjects(ctx.s3, config.storage.bucket, candidates));
      pruned.packages = outcome.deleted;
      for (const f of outcome.failed) {
        report.errors.push(`S3 DeleteObjects refused ${s3Uri(config.storage.bucket, f.key)}: ${f.message}; the role needs s3:DeleteObject on ${packagesPrefix}*.`);
        log.error(report.errors[report.errors.length - 1] as string);
        failed = true;
      }
    }

    log.info(`\nPrune${dryRun ? ' (dry run: nothing was changed)' : ''}: ${pruned.environments.length} environment(s) ${dryRun ? 'would be ' : ''}stopped, ${pruned.packages.length} package(s) ${dryRun ? 'would be ' : ''}deleted.`);
    if (!failed && pruned.environments.length === 0 && pruned.packages.length === 0) report.status = 'nothing-to-do';
    return failed ? EXIT.remote : EXIT.ok;
  });
}

/** Runs the stop of one environment, exactly as its own stop job would; its lines join the prune report. */
async function stopOne(ctx: RunContext, environment: string, report: RunReport): Promise<boolean> {
  const envCtx = forEnvironment(ctx, environment);
  const sub = startReport(envCtx.config, 'stop');
  let code: ExitCode;
  try {
    code = await stopEnvironment(envCtx, sub);
  } catch (err) {
    sub.errors.push(errorMessage(err));
    ctx.log.error(`Stopping '${environment}': ${errorMessage(err)}`);
    code = EXIT.remote;
  }
  report.functions.push(...sub.functions.map((f) => ({ ...f, name: `${environment}: ${f.name}` })));
  report.errors.push(...sub.errors.map((e) => `stop '${environment}': ${e}`));
  return code === EXIT.ok;
}

/**
 * The context a stop job of `environment` would have: the ownership marks checked are that environment's, and
 * the Gestalt environment is the one its record names (prune has no LAMBDA_ENVIRONMENT_ID of its own to prefer).
 */
function forEnvironment(ctx: RunContext, environment: string): RunContext {
  const config: Config = { ...ctx.config, environmentId: undefined, job: { ...ctx.config.job, environment } };
  const http = createHttpClient({ timeoutMs: config.http.timeoutMs, retry: config.http.retry, log: ctx.log });
  return { ...ctx, config, target: createTarget(config.target, config.job, config.http.retry, http, ctx.log) };
}

/** Every package key and sha256 any record or history names, of any environment. */
export function references(documents: DeploymentDocument[]): ReferenceSet {
  const refs = new ReferenceSet();
  for (const d of documents) refs.add(d.document);
  return refs;
}

/**
 * The objects prune deletes: only content-addressed packages (`<prefix>/packages/<sha256>/<file>`) that nothing
 * names and that are old enough. Anything else under packages/ is not ours to judge and stays.
 */
export function unreferencedOld(objects: ListedObject[], packagesPrefix: string, refs: ReferenceSet, days: number, now = Date.now()): string[] {
  return objects
    .filter((o) => o.key.startsWith(packagesPrefix) && packageSha(o.key) !== undefined && !o.key.slice(packagesPrefix.length).includes('..'))
    .filter((o) => !refs.holds(o.key) && isOld(o.lastModified, days, now))
    .map((o) => o.key);
}

/** 0 days: any age (a test, or a bucket with versioning to fall back on); no date at all: never old. */
function isOld(at: Date | undefined, days: number, now = Date.now()): boolean {
  if (!at) return false;
  return days === 0 || now - at.getTime() >= days * DAY_MS;
}
