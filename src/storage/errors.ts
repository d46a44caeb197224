import { RemoteError } from '../errors.js';
import { awsErrorName, awsStatus, networkCode } from '../net/aws-errors.js';
import { redactor } from '../log/redact.js';
import { DeadlineExceeded, ResponseTooLarge } from '../net/http.js';

const UPLOAD_CALLS = /^(CreateMultipartUpload|UploadPart|CompleteMultipartUpload)$/;

/** One sentence for an S3 failure: the call, the object, and what to change. */
export function s3Failure(call: string, uri: string, err: unknown): RemoteError {
  if (err instanceof PackageChanged) return err;
  const name = awsErrorName(err);
  const status = awsStatus(err);
  let advice: string;
  if (err instanceof DeadlineExceeded) {
    const tries = (err.$metadata as { attempts?: number }).attempts ?? 1;
    advice = `${err.message}${tries > 1 ? `, ${tries} tries` : ''}; check AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) and that the runner can reach S3, or raise GESTALT_HTTP_TIMEOUT for a slow link.`;
    return new RemoteError(`S3 ${call} ${uri} failed: ${advice}`, { cause: err });
  }
  if (err instanceof ResponseTooLarge) return new RemoteError(`S3 ${call} ${uri} failed: ${err.detail}; check that AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) points at S3.`, { cause: err });
  const unreachable = networkCode(err);
  if (unreachable) return new RemoteError(`S3 ${call} ${uri} failed: ${s3Unreachable(unreachable)}`, { cause: err });
  switch (name) {
    case 'NoSuchBucket':
      advice = 'the bucket does not exist; create it or fix S3_BUCKET_NAME (and AWS_REGION).';
      break;
    case 'AccessDenied':
    case 'Forbidden':
      advice = call === 'HeadObject'
        ? 'access denied; the role needs s3:GetObject and s3:ListBucket on the bucket (without ListBucket S3 answers 403 for objects that do not exist).'
        : `access denied; the role needs s3:${call.replace(UPLOAD_CALLS, 'PutObject')} on ${uri}.`;
      break;
    case 'AccessControlListNotSupported':
      advice = 'the bucket has ACLs disabled (Object Ownership: bucket owner enforced), so GESTALT_PACKAGE_ACCESS=public cannot work; use private with a bucket policy that lets Gestalt read the packages, or presigned.';
      break;
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'ExpiredToken':
      advice = `the AWS credentials were rejected (${name}); check AWS_ROLE_ARN or the static keys, and AWS_ENDPOINT_URL_S3 if you use an S3-compatible store.`;
      break;
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
      advice = 'the bucket is in another region; set AWS_REGION to the bucket\'s region.';
      break;
    case 'BadDigest':
    case 'InvalidDigest':
      advice = `S3 refused the bytes (${name}): they do not match the SHA-256 the package was hashed with, so they changed after hashing or on the way; nothing was stored under this key — rerun the job.`;
      break;
    default:
      // S3's message is remote text: redacted while whole, then shortened.
      advice = `${name}${status ? ` (HTTP ${status})` : ''}: ${redactor.quote((err as Error)?.message ?? String(err), 300)}`;
  }
  return new RemoteError(`S3 ${call} ${uri} failed: ${advice}`, { cause: err });
}

/** The package on disk no longer has the bytes its key was computed from; nothing was stored. */
export class PackageChanged extends RemoteError {
  constructor(file: string, key: string, detail: string) {
    super(`${file} changed after it was hashed (${detail}); nothing was stored under ${key}. Something rewrote the package while the job ran: build it before gestalt-deploy starts, then rerun.`);
    this.name = 'PackageChanged';
  }
}

export function isNotFound(err: unknown): boolean {
  const name = awsErrorName(err);
  const status = awsStatus(err);
  return name === 'NotFound' || name === 'NoSuchKey' || status === 404;
}

/** No HTTP answer from S3 at all: the endpoint (or the region that names it) is what to check. */
export function s3Unreachable(code: string, endpoint?: string): string {
  return `S3${endpoint ? ` at ${endpoint}` : ''} could not be reached (${code}); check AWS_ENDPOINT_URL_S3 (unset it for AWS itself) or AWS_REGION, and that the runner can reach S3.`;
}

/** 412: the ETag no longer matches (or the object now exists); 409: S3's ConditionalRequestConflict. */
export function isConflict(err: unknown): boolean {
  const name = awsErrorName(err);
  const status = awsStatus(err);
  return status === 412 || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || status === 409;
}
