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
import { collectFunctions } from './functions.js';
import { preflight } from './preflight.js';

/** Everything a command talks to, built once after configuration has been validated; `timings` gets the credentials phase. */
export interface RunContext {
  config: Config;
  log: Logger;
  identity: AwsIdentity;
  s3: S3Client;
  packages: PackageStore;
  records: RecordStore;
  target: GestaltTarget;
}

export async function openContext(config: Config, log: Logger, timings: Record<string, number>): Promise<RunContext> {
  const identity = await timed(timings, 'credentials', () => log.section('credentials', 'AWS credentials', () => resolveCredentials(config.aws, config.http.retry, log)));
  const s3 = createS3Client(config.aws, config.storage, identity, config.http.retry.attempts);
  const http = createHttpClient({ timeoutMs: config.http.timeoutMs, retry: config.http.retry, log });
  return {
    config,
    log,
    identity,
    s3,
    packages: new PackageStore(s3, config.storage, config.aws),
    records: new RecordStore(s3, config.storage),
    target: createTarget(config.target, config.job, config.http.retry, http, log),
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
 */
export async function openDeployment(config: Config, env: Record<string, string | undefined>, log: Logger, report: RunReport, purpose: 'deploy' | 'plan') {
  const timings = report.timingsMs;
  const functions = await timed(timings, 'artifacts', () => collectFunctions(config, env, log));
  const ctx = await openContext(config, log, timings);
  const placement: Placement = { api: config.api as string, environmentId: config.environmentId as string };
  const { previous, session } = await timed(timings, 'lookup', () =>
    log.section('lookup', `Preflight (read-only): s3://${config.storage.bucket}, ${ctx.target.label}`, () => preflight(ctx, placement, purpose)),
  );
  return { functions, ctx, previous, session };
}
