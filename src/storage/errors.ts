import { RemoteError } from '../errors.js';
import { awsErrorName, awsStatus, networkCode } from '../net/aws-errors.js';

/** One sentence for an S3 failure: the call, the object, and what to change. */
export function s3Failure(call: string, uri: string, err: unknown): RemoteError {
  const name = awsErrorName(err);
  const status = awsStatus(err);
  let advice: string;
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
        : `access denied; the role needs s3:${call.replace(/^(Create|Complete|Upload).*Multipart.*$/, 'PutObject')} on ${uri}.`;
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
    default:
      advice = `${name}${status ? ` (HTTP ${status})` : ''}: ${(err as Error)?.message ?? String(err)}`;
  }
  return new RemoteError(`S3 ${call} ${uri} failed: ${advice}`, { cause: err });
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
