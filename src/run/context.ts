import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/types.js';
import { resolveCredentials, type AwsIdentity } from '../credentials/index.js';
import type { Logger } from '../log/logger.js';
import { createHttpClient } from '../net/http.js';
import { RecordStore } from '../record/store.js';
import { createS3Client } from '../storage/client.js';
import { PackageStore } from '../storage/packages.js';
import { createTarget } from '../gestalt/create.js';
import type { GestaltTarget } from '../gestalt/types.js';

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
  const identity = await timed(timings, 'credentials', () => log.section('credentials', 'AWS credentials', () => resolveCredentials(config.aws, config.http, log)));
  const s3 = createS3Client(config.aws, config.storage, identity, config.http);
  const http = createHttpClient({ timeoutMs: config.http.timeoutMs, retry: config.http.retry, log });
  return {
    config,
    log,
    identity,
    s3,
    packages: new PackageStore(s3, config.storage, config.aws),
    records: new RecordStore(s3, config.storage),
    target: createTarget(config, http, log),
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
