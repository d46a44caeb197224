import type { PackagedFunction } from '../artifacts/functions.js';
import type { Config } from '../config/types.js';
import { EXIT, errorMessage, type ExitCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { mapLimit } from '../net/pool.js';
import type { DeploymentRecord, RecordedFunction } from '../record/types.js';
import type { FunctionReport } from '../reports/types.js';
import { packageKey } from '../storage/packages.js';
import { uploadProgress, uploadSummary } from '../storage/progress.js';
import type { DeployResult, GestaltSession } from '../gestalt/types.js';
import { openDeployment, timed, type RunContext } from './context.js';
import { withReport } from './report.js';

interface Staged {
  fn: PackagedFunction;
  key: string;
  url?: string;
  bytesUploaded: number;
  upload: 'uploaded' | 'skipped';
  error?: string;
  result?: DeployResult;
}

export async function runDeploy(config: Config, env: Record<string, string | undefined>, log: Logger): Promise<ExitCode> {
  return withReport(config, 'deploy', log, async (report) => {
    const timings = report.timingsMs;
    const { functions, ctx, previous, session } = await openDeployment(config, env, log, report, 'deploy');
    const staged = await timed(timings, 'upload', () => log.section('upload', `Upload to s3://${config.storage.bucket}/${config.storage.prefix}/packages/`, () => upload(ctx, functions)));
    await timed(timings, 'deploy', () => log.section('deploy', `Deploy ${functions.length} function(s)`, () => deployAll(ctx, session, staged, previous)));
    // The dotenv names the record only once it is written.
    if (await timed(timings, 'record', () => writeRecord(ctx, staged, previous))) report.record = ctx.records.uri(config.job.environment);
    report.functions = staged.map(toReport);
    return report.functions.some((f) => f.error) ? EXIT.remote : EXIT.ok;
  });
}

async function upload(ctx: RunContext, functions: PackagedFunction[]): Promise<Staged[]> {
  const { packages, config, log, identity } = ctx;
  const signedUntil = Date.now() + config.storage.presignSeconds * 1000;
  if (config.storage.access === 'presigned' && identity.expiration && identity.expiration.getTime() < signedUntil) {
    // A URL signed with temporary credentials dies with them, whatever X-Amz-Expires says.
    log.warn(`presigned package URLs stop working when these temporary credentials expire (${identity.expiration.toISOString()}); Gestalt must fetch the packages before then, or use GESTALT_PACKAGE_ACCESS=private with a bucket policy.`);
  }
  return mapLimit(functions, config.concurrency, async (fn): Promise<Staged> => {
    const key = packageKey(config.storage, fn.sha256, fn.file);
    try {
      const state = await packages.state(key, fn.size);
      if (state === 'absent') {
        const started = performance.now();
        await packages.upload(key, fn.absPath, fn.sha256, uploadProgress({ label: fn.relPath, total: fn.size, write: (line) => log.info(line) }));
        log.info(`  uploaded ${fn.relPath} (${uploadSummary(fn.size, performance.now() - started)}) → ${key}`);
      } else {
        if (config.storage.access === 'public') await packages.makePublic(key);
        log.info(`  unchanged ${fn.relPath}: ${key} already present, not uploaded`);
      }
      return { fn, key, url: await packages.url(key), bytesUploaded: state === 'absent' ? fn.size : 0, upload: state === 'absent' ? 'uploaded' : 'skipped' };
    } catch (err) {
      log.error(errorMessage(err));
      return { fn, key, bytesUploaded: 0, upload: 'skipped', error: errorMessage(err) };
    }
  });
}

async function deployAll(ctx: RunContext, session: GestaltSession, staged: Staged[], previous: DeploymentRecord | undefined): Promise<void> {
  const { config, log } = ctx;
  await mapLimit(staged, config.concurrency, async (s) => {
    if (s.error || !s.url) return;
    try {
      s.result = await session.deploy({ fn: s.fn, packageKey: s.key, packageUrl: s.url, previous: previous?.functions.find((f) => f.name === s.fn.name) });
      log.info(`  ${s.fn.name}: ${s.result.action}${s.result.changed?.length ? ` (${s.result.changed.join(', ')})` : ''}, endpoint ${s.result.endpoint}${s.result.url ? ` → ${s.result.url}` : ''}`);
    } catch (err) {
      s.error = errorMessage(err);
      log.error(s.error);
    }
  });
}

/**
 * The record keeps what earlier deploys of this environment left (so stop removes them too) and
 * replaces the entries of functions deployed now. Nothing is written when nothing deployed.
 */
async function writeRecord(ctx: RunContext, staged: Staged[], previous: DeploymentRecord | undefined): Promise<boolean> {
  const { config, records, log } = ctx;
  const now = new Date().toISOString();
  const deployed = staged.filter((s) => s.result && !s.error);
  if (deployed.length === 0) return false;
  const fresh: RecordedFunction[] = deployed.map((s) => ({
    name: s.fn.name,
    file: s.fn.file,
    runtime: s.fn.runtime,
    handler: s.fn.handler,
    packageKey: s.key,
    sha256: s.fn.sha256,
    url: s.result?.url,
    id: s.result?.id,
    endpointIds: s.result?.endpointIds,
    deployedAt: now,
  }));
  const kept = (previous?.functions ?? []).filter((f) => !fresh.some((n) => n.name === f.name));
  const record: DeploymentRecord = {
    schema: 1,
    environment: config.job.environment,
    mode: config.target.mode,
    project: { name: config.job.projectName, path: config.job.projectPath, id: config.job.projectId },
    ref: config.job.ref,
    sha: config.job.sha,
    pipelineId: config.job.pipelineId,
    jobUrl: config.job.jobUrl,
    updatedAt: now,
    api: config.api,
    environmentId: config.environmentId,
    org: config.target.mode === 'meta' ? config.target.org : undefined,
    functions: [...kept, ...fresh].sort((a, b) => a.name.localeCompare(b.name)),
  };
  await records.write(record);
  log.info(`Deployment record: ${records.uri(config.job.environment)} (${record.functions.length} function(s))`);
  return true;
}

function toReport(s: Staged): FunctionReport {
  return {
    name: s.fn.name,
    file: s.fn.relPath,
    action: s.error ? 'failed' : (s.result?.action ?? 'failed'),
    endpoint: s.result?.endpoint,
    packageKey: s.key,
    sha256: s.fn.sha256,
    size: s.fn.size,
    upload: s.upload,
    bytesUploaded: s.bytesUploaded,
    url: s.result?.url,
    id: s.result?.id,
    changed: s.result?.changed,
    error: s.error,
  };
}
