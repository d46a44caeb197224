import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings, StorageSettings } from '../config/types.js';
import { missingCredentials } from '../credentials/missing.js';
import { ConfigError, RemoteError, RemoteFailures, errorMessages } from '../errors.js';
import type { GestaltSession } from '../gestalt/types.js';
import { awsErrorName, awsStatus, networkCode } from '../net/aws-errors.js';
import { DeadlineExceeded, ResponseTooLarge } from '../net/http.js';
import type { RecordVersion } from '../record/store.js';
import { s3Failure, s3Unreachable } from '../storage/errors.js';
import type { RunContext } from './context.js';

// Read-only checks that everything a deploy needs exists, run by deploy before its first upload, by plan,
// and by doctor: the bucket, and in Gestalt the org, environment, API and provider. Each cause is one
// sentence naming what to change, however many functions it would have failed.

/** HeadBucket: the bucket exists, is in this region, and these credentials may use it. */
export async function checkBucket(s3: S3Client, storage: StorageSettings, aws: AwsSettings): Promise<string> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: storage.bucket }));
    return `S3 bucket s3://${storage.bucket} reachable with these credentials (HeadBucket)`;
  } catch (err) {
    throw bucketFailure(err, storage, aws);
  }
}

/** HeadBucket answers without a body, so the SDK's own text ("UnknownError") says nothing: word it here. */
export function bucketFailure(err: unknown, storage: StorageSettings, aws: AwsSettings): Error {
  const config = missingCredentials(err);
  if (config) return config;
  // A timeout or an oversized answer has its own sentence (GESTALT_HTTP_TIMEOUT, the size cap).
  if (err instanceof DeadlineExceeded || err instanceof ResponseTooLarge) return s3Failure('HeadBucket', `s3://${storage.bucket}`, err);
  const bucket = storage.bucket;
  const code = networkCode(err);
  if (code) return new RemoteError(`S3 HeadBucket s3://${bucket} failed: ${s3Unreachable(code, aws.s3Endpoint)}`, { cause: err });
  const status = awsStatus(err);
  const name = awsErrorName(err);
  const where = aws.s3Endpoint ? `at ${aws.s3Endpoint}` : `in AWS_REGION ${aws.region}`;
  if (status === 404 || name === 'NotFound' || name === 'NoSuchBucket') {
    return new RemoteError(`S3_BUCKET_NAME '${bucket}' names no bucket ${where} (HeadBucket answered 404); create the bucket, or fix S3_BUCKET_NAME.`, { cause: err });
  }
  if (status === 301 || name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') {
    const actual = (err as { $response?: { headers?: Record<string, string> } }).$response?.headers?.['x-amz-bucket-region'];
    return new RemoteError(`S3 bucket '${bucket}' is not in AWS_REGION ${aws.region}${actual ? ` but in ${actual}` : ''}; set AWS_REGION to the bucket's region.`, { cause: err });
  }
  if (status === 403) {
    return new RemoteError(
      `These AWS credentials may not use S3 bucket '${bucket}' (HeadBucket answered 403): give the role s3:ListBucket on arn:aws:s3:::${bucket} (and s3:GetObject/s3:PutObject on its keys), or check S3_BUCKET_NAME — bucket names are global, so a typo can name someone else's bucket.`,
      { cause: err },
    );
  }
  return s3Failure('HeadBucket', `s3://${bucket}`, err);
}

/**
 * deploy and plan: the bucket, the Gestalt lookups (started by the caller, before the credentials were resolved)
 * and the environment's record (validated against the job), side by side. Every independent cause is reported;
 * a record read that fails because the bucket did is the same cause.
 */
export async function preflight(ctx: RunContext, opening: Promise<GestaltSession>, readRecord: () => Promise<RecordVersion>): Promise<{ session: GestaltSession; version: RecordVersion }> {
  const { config, s3, log } = ctx;
  const [bucket, session, version] = await Promise.allSettled([checkBucket(s3, config.storage, config.aws), opening, readRecord()]);
  const failures: unknown[] = [];
  if (bucket.status === 'rejected') failures.push(bucket.reason);
  if (session.status === 'rejected') failures.push(session.reason);
  if (version.status === 'rejected' && bucket.status === 'fulfilled') failures.push(version.reason);
  if (bucket.status === 'fulfilled' && session.status === 'fulfilled' && version.status === 'fulfilled') return { session: session.value, version: version.value };
  throw combine(failures, log);
}

/** One error standing for every cause: configuration first (exit 2), then remote ones, each its own sentence. */
function combine(failures: unknown[], log: RunContext['log']): Error {
  const translated = failures.map((f) => missingCredentials(f) ?? f);
  const config = translated.filter((f): f is ConfigError => f instanceof ConfigError);
  const remote = translated.filter((f) => !(f instanceof ConfigError));
  const unexpected = remote.find((f) => !(f instanceof RemoteError));
  if (unexpected) return unexpected instanceof Error ? unexpected : new Error(String(unexpected));
  if (config.length > 0) {
    // The configuration error decides the exit code; the remote causes found beside it are still said.
    for (const f of remote) for (const m of errorMessages(f)) log.error(m);
    return new ConfigError(config.flatMap((c) => c.problems));
  }
  if (remote.length === 1) return remote[0] as Error;
  return new RemoteFailures(remote.flatMap((f) => errorMessages(f)));
}
