import { S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings, Config, StorageSettings } from '../config/types.js';
import type { AwsIdentity } from '../credentials/index.js';
import { BoundedHttpHandler } from '../net/aws-http.js';

export function createS3Client(aws: AwsSettings, storage: StorageSettings, identity: AwsIdentity, http: Config['http']): S3Client {
  return new S3Client({
    region: aws.region,
    endpoint: aws.s3Endpoint,
    forcePathStyle: storage.forcePathStyle,
    credentials: identity.credentials,
    // Connect, answer and body deadlines and the body cap, the same policy as every Gestalt call.
    requestHandler: new BoundedHttpHandler(http.timeoutMs),
    // The SDK's own retry (throttling, 5xx, network, timeouts) is the classified retry for S3: same rules as ours.
    maxAttempts: http.retry.attempts,
  });
}

/** `s3://bucket/key`, for messages. */
export function s3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}
