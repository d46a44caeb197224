import { S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings, StorageSettings } from '../config/types.js';
import type { AwsIdentity } from '../credentials/index.js';

export function createS3Client(aws: AwsSettings, storage: StorageSettings, identity: AwsIdentity, attempts: number): S3Client {
  return new S3Client({
    region: aws.region,
    endpoint: aws.s3Endpoint,
    forcePathStyle: storage.forcePathStyle,
    credentials: identity.credentials,
    // The SDK's own retry (throttling, 5xx, network) is the classified retry for S3: same rules as ours.
    maxAttempts: attempts,
  });
}

/** `s3://bucket/key`, for messages. */
export function s3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}
