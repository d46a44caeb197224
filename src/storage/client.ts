import { S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings, Config, StorageSettings } from '../config/types.js';
import type { AwsIdentity } from '../credentials/index.js';
import { BoundedHttpHandler, isReopenable } from '../net/aws-http.js';

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
    // By default the SDK sends large bodies with Expect: 100-continue, and its handler then opens a new connection
    // (no keep-alive) for each: a TLS handshake and a round trip per part. Package PUTs follow a read-only
    // preflight of the bucket, so a refusal before the body is not worth a connection per part.
    expectContinueHeader: false,
  });
  // SigV4 signs a hash of the body by default: one more full read of every upload, at SHA-256 speed. Over HTTPS,
  // a body that carries its SHA-256 checksum gains nothing from it (TLS protects the bytes in transit and S3
  // refuses any body whose checksum differs), so it is sent as UNSIGNED-PAYLOAD, which S3 accepts and the signer
  // honours. Over plain http the signature stays the only protection in transit, so the hash stays signed; a
  // package piece (read while it is sent, never hashed by the SDK) is signed with its SHA-256 from hashing time,
  // which S3 checks against the body as it does any signed payload hash.
  s3.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { protocol?: string; headers?: Record<string, string>; body?: unknown };
      if (!request.headers) return next(args);
      if (request.protocol === 'https:' && request.headers[CHECKSUM_SHA256]) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      else if (isReopenable(request.body)) request.headers['x-amz-content-sha256'] = request.body.sha256;
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
