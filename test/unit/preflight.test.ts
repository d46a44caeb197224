import { describe, expect, it } from 'vitest';
import type { AwsSettings, StorageSettings } from '../../src/config/types.js';
import { missingCredentials } from '../../src/credentials/missing.js';
import { ConfigError, RemoteError } from '../../src/errors.js';
import { networkCode } from '../../src/net/aws-errors.js';
import { bucketFailure } from '../../src/run/preflight.js';

// The SDK's errors as users meet them, turned into the variable to change. The shapes are the SDK's own:
// a name, a $metadata with the HTTP status (absent when no answer came), and Node's error codes.

const sdkError = (name: string, status: number | undefined, extra: object = {}) => Object.assign(new Error(status ? 'UnknownError' : name), { name, $metadata: status ? { httpStatusCode: status } : { attempts: 3 }, ...extra });
const storage = { bucket: 'acme-packages', prefix: 'acme/lambdas', forcePathStyle: false, access: 'private', presignSeconds: 60 } as StorageSettings;
const aws = { region: 'eu-west-1', sessionName: 's', durationSeconds: 3600, roleChain: [] } as AwsSettings;

describe('bucketFailure', () => {
  it('HeadBucket 404 names S3_BUCKET_NAME, not "UnknownError"', () => {
    const err = bucketFailure(sdkError('NotFound', 404), storage, aws);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe("S3_BUCKET_NAME 'acme-packages' names no bucket in AWS_REGION eu-west-1 (HeadBucket answered 404); create the bucket, or fix S3_BUCKET_NAME.");
  });

  it('a bucket in another region names AWS_REGION and, when S3 says it, the right one', () => {
    const err = bucketFailure(sdkError('PermanentRedirect', 301, { $response: { headers: { 'x-amz-bucket-region': 'us-west-2' } } }), storage, aws);
    expect(err.message).toBe("S3 bucket 'acme-packages' is not in AWS_REGION eu-west-1 but in us-west-2; set AWS_REGION to the bucket's region.");
  });

  it('403 names the permission, and that bucket names are global', () => {
    expect(bucketFailure(sdkError('Forbidden', 403), storage, aws).message).toMatch(/^These AWS credentials may not use S3 bucket 'acme-packages' \(HeadBucket answered 403\): give the role s3:ListBucket on arn:aws:s3:::acme-packages/);
  });

  it('no answer at all names AWS_ENDPOINT_URL_S3', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', $metadata: { attempts: 3 } });
    expect(bucketFailure(refused, storage, { ...aws, s3Endpoint: 'http://127.0.0.1:9' }).message).toBe(
      'S3 HeadBucket s3://acme-packages failed: S3 at http://127.0.0.1:9 could not be reached (ECONNREFUSED); check AWS_ENDPOINT_URL_S3 (unset it for AWS itself) or AWS_REGION, and that the runner can reach S3.',
    );
  });

  it('no credentials anywhere is a configuration error naming AWS_ROLE_ARN and AWS_ACCESS_KEY_ID', () => {
    const err = bucketFailure(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError', tryNextLink: false }), storage, aws);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([{ variable: 'AWS_ROLE_ARN', message: expect.stringMatching(/^is not set \(nor AWS_ACCESS_KEY_ID\).*set AWS_ROLE_ARN .* or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\.$/) }]);
  });
});

describe('networkCode and missingCredentials look through wrappers', () => {
  it('finds the code in a cause or an AggregateError, and none in an HTTP answer', () => {
    const inner = Object.assign(new Error('connect ECONNREFUSED ::1:9'), { code: 'ECONNREFUSED' });
    expect(networkCode(new RemoteError('S3 failed', { cause: new AggregateError([inner]) }))).toBe('ECONNREFUSED');
    expect(networkCode(Object.assign(new Error('x'), { code: 'ENOTFOUND' }))).toBe('ENOTFOUND');
    expect(networkCode(sdkError('ServiceUnavailable', 503, { code: 'ECONNRESET' }))).toBeUndefined();
    expect(missingCredentials(new RemoteError('S3 GetObject failed', { cause: { name: 'CredentialsProviderError' } }))).toBeInstanceOf(ConfigError);
    expect(missingCredentials(sdkError('AccessDenied', 403))).toBeUndefined();
  });
});
