import { awsErrorName, networkCode, type SdkErrorShape } from '../net/aws-errors.js';
import type { Verdict } from '../net/retry.js';

// Which STS failures are worth another try. Everything not listed here is permanent: a bad audience
// or a trust policy that does not match will not change by asking again, so it costs one call.

const TRANSIENT_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'IDPCommunicationError',
  'IDPCommunicationErrorException',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);


export function isVerificationKeyError(err: unknown): boolean {
  return /verification key/i.test((err as SdkErrorShape)?.message ?? '');
}

export function classifyAwsError(err: unknown): Verdict {
  const e = err as SdkErrorShape;
  // A try that ran out of time, headers or not, may succeed on the next; an oversized answer will not shrink.
  if (awsErrorName(err) === 'TimeoutError') return 'retry';
  if (awsErrorName(err) === 'ResponseTooLarge') return 'fail';
  if (TRANSIENT_NAMES.has(awsErrorName(err))) return 'retry';
  // STS reports an unreachable JWKS as InvalidIdentityToken; the IdP may be back a moment later.
  if (isVerificationKeyError(err)) return 'retry';
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return 'retry';
  if (status === undefined && networkCode(err) !== undefined) return 'retry';
  return 'fail';
}
