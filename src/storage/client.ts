import { S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings, Config, StorageSettings } from '../config/types.js';
import type { AwsIdentity } from '../credentials/index.js';
import { BoundedHttpHandler } from '../net/aws-http.js';

/** The header that makes S3 compute and check the body's SHA-256 itself (ChecksumSHA256 on a PUT or part). */
const CHECKSUM_SHA256 = 'x-amz-checksum-sha256';

export function createS3Client(aws: AwsSettings, storage: StorageSettings, identity: AwsIdentity, http: Config['http']): S3Client {
  const s3 = new S3Client({
    region: aws.region,
    endpoint: aws.s3Endpoint,
    forcePathStyle: storage.forcePathStyle,
    credentials: identity.credentials,
    // Connect, answer and body deadlines and the body cap, the same policy as every Gestalt call.
    requestHandler: new BoundedHttpHandler(http.timeoutMs),
    // The SDK's own retry (throttling, 5xx, network, timeouts) is the classified retry for S3: same rules as ours.
    maxAttempts: http.retry.attempts,
  });
  // SigV4 signs a hash of the body by default: one more full read of every upload, at SHA-256 speed. Over HTTPS,
  // a body that carries its SHA-256 checksum gains nothing from it (TLS protects the bytes in transit and S3
  // refuses any body whose checksum differs), so it is sent as UNSIGNED-PAYLOAD, which S3 accepts and the signer
  // honours. Over plain http the signature stays the only protection in transit, so the hash stays.
  s3.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { protocol?: string; headers?: Record<string, string> };
      if (request.protocol === 'https:' && request.headers?.[CHECKSUM_SHA256]) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'gestaltUnsignedChecksummedPayload' },
  );
  return s3;
}

/** `s3://bucket/key`, for messages. */
export function s3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}
