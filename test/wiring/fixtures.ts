// Shared by the in-process wiring tests: a logger that collects its lines, a job, a package, fast retries,
// and the credentials whose raw and encoded forms must never reach a collected line.
import { expect } from 'vitest';
import type { PackagedFunction } from '../../src/artifacts/functions.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings, JobContext, StorageSettings } from '../../src/config/types.js';
import { createS3Client } from '../../src/storage/client.js';
import { createLogger, type Logger } from '../../src/log/logger.js';
import { createHttpClient, type HttpClient } from '../../src/net/http.js';
import type { RetryPolicy } from '../../src/net/retry.js';
import type { DeploymentRecord, RecordedFunction } from '../../src/record/types.js';
import { assertNoSecrets } from '../support/run-cli.js';

export const GF_KEY = 'gf-key';
export const GF_SECRET = 'gf-secret-wiring-5c4b3a29';
export const GF_BASIC = Buffer.from(`${GF_KEY}:${GF_SECRET}`).toString('base64');
export const BEARER = 'bearer-wiring-token-7d6e5f';

/** Three tries with waits of at most 2 ms: the retry rules without the waiting. */
export const FAST_RETRY: RetryPolicy = { attempts: 3, baseMs: 1, maxMs: 2 };

export const JOB: JobContext = {
  projectName: 'lambdas',
  projectPath: 'acme/lambdas',
  projectId: '42',
  projectDir: '/nonexistent/project',
  ref: 'main',
  sha: '0123abcd4567ef890123abcd4567ef890123abcd',
  environment: 'review/main',
  environmentSlug: 'review-main',
  pipelineId: '1001',
  jobId: '2002',
  jobUrl: 'https://gitlab.example.test/acme/lambdas/-/jobs/2002',
  serverUrl: 'https://gitlab.example.test',
};

/** A package as deploy hands it to a session; the name follows the default template {project}/{ref}/{file}. */
export function packaged(file: string, overrides: Partial<PackagedFunction> = {}): PackagedFunction {
  return {
    name: `${JOB.projectName}/${JOB.ref}/${file}`,
    file,
    relPath: `dist/${file}`,
    absPath: `${JOB.projectDir}/dist/${file}`,
    runtime: 'nodejs',
    handler: 'index.handler',
    memory: 512,
    cpus: 0.1,
    timeout: 30,
    methods: ['GET', 'POST'],
    public: true,
    env: {},
    source: 'LAMBDA_ARTIFACTS',
    partSize: 8 * 1024 * 1024,
    partSha256: ['a'.repeat(64)],
    sha256: 'a'.repeat(64),
    size: 100,
    ...overrides,
  };
}

export function packageUrl(file: string, signature = 'sig1'): string {
  return `https://bucket.example.test/acme/lambdas/packages/${'a'.repeat(64)}/${file}?X-Amz-Signature=${signature}`;
}

export function record(functions: RecordedFunction[], extra: Partial<DeploymentRecord> = {}): DeploymentRecord {
  return {
    schema: 2,
    environment: JOB.environment,
    mode: 'meta',
    project: { name: JOB.projectName, path: JOB.projectPath, id: JOB.projectId },
    ref: JOB.ref,
    sha: JOB.sha,
    pipelineId: JOB.pipelineId,
    jobUrl: JOB.jobUrl,
    updatedAt: '2024-01-01T00:00:00.000Z',
    functions,
    ...extra,
  };
}

export function recorded(file: string, extra: Partial<RecordedFunction> = {}): RecordedFunction {
  return {
    name: `${JOB.projectName}/${JOB.ref}/${file}`,
    file,
    runtime: 'nodejs',
    handler: 'index.handler',
    packageKey: `acme/lambdas/packages/${'a'.repeat(64)}/${file}`,
    sha256: 'a'.repeat(64),
    deployedAt: '2024-01-01T00:00:00.000Z',
    state: 'deployed',
    ...extra,
  };
}

export interface Collected {
  log: Logger;
  lines: string[];
  /** Fails unless no collected line holds any of these secrets (nor their URL-encoded forms). */
  expectNoSecrets(secrets?: string[]): void;
}

/** Debug on, so the per-request lines (method, URL, status) are checked for secrets too. */
export function collectingLogger(): Collected {
  const lines: string[] = [];
  const log = createLogger({ debug: true, gitlab: false, write: (text) => void lines.push(text.replace(/\n$/, '')) });
  return {
    log,
    lines,
    expectNoSecrets(secrets = [GF_SECRET, GF_BASIC, BEARER]) {
      assertNoSecrets(lines, secrets);
    },
  };
}

/** The client every Gestalt call goes through, with fast retries; the timeout is long unless a test needs it short. */
export function httpClient(log: Logger, timeoutMs = 10_000): HttpClient {
  return createHttpClient({ timeoutMs, retry: FAST_RETRY, log });
}

/** The rejection of `promise`, which must reject. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) expect.fail(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(Error);
  return outcome.error as Error;
}

/** Storage settings for a wiring test's bucket (path style, as the S3 stand-ins need). */
export function wiringStorage(bucket: string): StorageSettings {
  return { bucket, prefix: 'acme/lambdas', forcePathStyle: true, access: 'private', presignSeconds: 3600 };
}

/** The run's own S3 client against a stand-in at `endpoint`, with static keys and a single try per call. */
export function wiringS3Client(endpoint: string, region: string, secretAccessKey: string): S3Client {
  const aws: AwsSettings = { region, s3Endpoint: endpoint, sessionName: 'wiring', durationSeconds: 900, roleChain: [] };
  return createS3Client(aws, wiringStorage('unused'), { credentials: { accessKeyId: 'AKIDWIRINGTEST', secretAccessKey }, source: 'static' }, { timeoutMs: 30_000, retry: { attempts: 1, baseMs: 1, maxMs: 1 } });
}
