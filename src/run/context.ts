import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/types.js';
import { resolveCredentials, type AwsIdentity } from '../credentials/index.js';
import type { Logger } from '../log/logger.js';
import { createHttpClient } from '../net/http.js';
import { RecordStore } from '../record/store.js';
import { createS3Client } from '../storage/client.js';
import { PackageStore } from '../storage/packages.js';
import { createTarget } from '../gestalt/create.js';
import type { GestaltTarget, Placement } from '../gestalt/types.js';
import type { RunReport } from '../reports/types.js';
import type { RecordHeader } from '../record/journal.js';
import type { RecordVersion } from '../record/store.js';
import { ConfigError, EXIT, type ExitCode } from '../errors.js';
import { cancellation } from '../net/cancel.js';
import { logPackages, resolveSpecs } from './functions.js';
import { hashFunctions } from '../artifacts/functions.js';
import { HistoryStore } from '../history/store.js';
import { preflight } from './preflight.js';

/** Everything a command talks to, built once after configuration has been validated; `timings` gets the credentials phase. */
export interface RunContext {
  config: Config;
  log: Logger;
  identity: AwsIdentity;
  s3: S3Client;
  packages: PackageStore;
  records: RecordStore;
  history: HistoryStore;
  target: GestaltTarget;
}

/** The run's Gestalt target: its calls need no AWS credentials, so a caller may start them before those are resolved. */
export function gestaltTarget(config: Config, log: Logger): GestaltTarget {
  const http = createHttpClient({ timeoutMs: config.http.timeoutMs, retry: config.http.retry, log });
  return createTarget(config.target, config.job, config.http.retry, http, log);
}

export async function openContext(config: Config, log: Logger, timings: Record<string, number>, target = gestaltTarget(config, log)): Promise<RunContext> {
  const identity = await timed(timings, 'credentials', () => log.section('credentials', 'AWS credentials', () => resolveCredentials(config.aws, config.http, log)));
  const s3 = createS3Client(config.aws, config.storage, identity, config.http);
  return {
    config,
    log,
    identity,
    s3,
    packages: new PackageStore(s3, config.storage, config.aws),
    records: new RecordStore(s3, config.storage, { environment: config.job.environment, projectPath: config.job.projectPath, mode: config.target.mode }),
    history: new HistoryStore(s3, config.storage, config.job.projectPath, config.lifecycle.historyLimit),
    target,
  };
}

export async function timed<T>(timings: Record<string, number>, phase: string, body: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await body();
  } finally {
    timings[phase] = Math.round((timings[phase] ?? 0) + performance.now() - started);
  }
}

/**
 * What deploy and plan both start from: the packages (local checks first), then the context, and the
 * preflight (bucket, Gestalt lookups, the environment's record), all read-only, before anything is written.
 * Hashing is local work and the lookups are remote waits, so the packages are hashed while they run.
 */
export async function openDeployment(config: Config, env: Record<string, string | undefined>, log: Logger, report: RunReport, purpose: 'deploy' | 'plan') {
  const timings = report.timingsMs;
  const specs = await resolveSpecs(config, env);
  const hashing = timed(timings, 'artifacts', () => hashFunctions(specs, config.concurrency));
  hashing.catch(() => undefined); // awaited below; a failure elsewhere first is the one reported
  // Gestalt's lookups need no AWS credentials: they run while the credentials are resolved (STS is a round trip).
  const placement: Placement = { api: config.api as string, environmentId: config.environmentId as string };
  const target = gestaltTarget(config, log);
  const opening = target.open(placement, purpose);
  opening.catch(() => undefined); // settled inside the preflight, which reports its failure beside the others
  const ctx = await openContext(config, log, timings, target);
  const { version, session } = await timed(timings, 'lookup', () =>
    log.section('lookup', `Preflight (read-only): s3://${config.storage.bucket}, ${ctx.target.label}`, async () => {
      const opened = await preflight(ctx, opening, () => readRecord(ctx));
      // Before any write: what only Gestalt can tell about the functions' settings (meta: their secrets).
      await opened.session.preflight?.(specs);
      return opened;
    }),
  );
  const functions = await hashing;
  await logPackages(log, functions);
  return { functions, ctx, version, session };
}

/**
 * The environment's record, validated, and checked against the job: a record for another Gestalt environment
 * than LAMBDA_ENVIRONMENT_ID names is a configuration error, never silently preferred.
 */
export async function readRecord(ctx: RunContext): Promise<RecordVersion> {
  const { config, records } = ctx;
  const version = await records.readVersion(config.job.environment);
  const recordedEnv = version.record?.environmentId;
  if (recordedEnv && config.environmentId && recordedEnv !== config.environmentId) {
    throw new ConfigError([{ variable: 'LAMBDA_ENVIRONMENT_ID', message: `is ${config.environmentId}, but the deployment record ${records.uri(config.job.environment)} says environment '${config.job.environment}' was deployed to ${recordedEnv}; set LAMBDA_ENVIRONMENT_ID to the environment the record names, or stop the old deployment first.` }]);
  }
  return version;
}

/** The header a run stamps on the record it writes. */
export function recordHeader(config: Config): RecordHeader {
  const { job } = config;
  return {
    environment: job.environment,
    mode: config.target.mode,
    project: { name: job.projectName, path: job.projectPath, id: job.projectId },
    ref: job.ref,
    sha: job.sha,
    pipelineId: job.pipelineId,
    jobUrl: job.jobUrl,
    updatedAt: new Date().toISOString(),
    api: config.api,
    environmentId: config.environmentId,
    org: config.target.mode === 'meta' ? config.target.org : undefined,
  };
}

/** A cancelled run that got to write its record and reports: the shell's code for the signal. */
export function cancelledExit(report: RunReport, log: Logger): ExitCode {
  const signal = cancellation.signal ?? 'SIGTERM';
  report.status = 'cancelled';
  log.warn(`Cancelled by ${signal}: no further changes were started; the record and reports describe what was done.`);
  return signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
}
