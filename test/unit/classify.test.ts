// Which STS failures are retried. A permanent error retried costs time and hides the real cause; a transient one
// not retried fails a job that would have passed. Errors are built with the SDK's own classes where it has them.
import { ExpiredTokenException, IDPCommunicationErrorException, IDPRejectedClaimException, InvalidIdentityTokenException, STSServiceException } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { classifyAwsError, isVerificationKeyError } from '../../src/credentials/classify.js';
import { awsErrorName } from '../../src/net/aws-errors.js';
import { DeadlineExceeded, ResponseTooLarge } from '../../src/net/http.js';

const meta = (httpStatusCode?: number) => ({ httpStatusCode, attempts: 1, totalRetryDelay: 0 });
const sdk = (name: string, message: string, status?: number) =>
  new STSServiceException({ name, $fault: status !== undefined && status >= 500 ? 'server' : 'client', message, $metadata: meta(status) });
const netError = (code: string) => Object.assign(new Error(`connect ${code} 1.2.3.4:443`), { code });

describe('classifyAwsError: retry', () => {
  it.each([
    ['Throttling (400)', sdk('Throttling', 'Rate exceeded', 400)],
    ['ThrottlingException', sdk('ThrottlingException', 'Rate exceeded', 400)],
    ['RequestLimitExceeded', sdk('RequestLimitExceeded', 'slow down', 400)],
    ['IDPCommunicationErrorException', new IDPCommunicationErrorException({ message: 'could not reach IdP', $metadata: meta(400) })],
    ['InternalFailure', sdk('InternalFailure', 'oops', 500)],
    ['ServiceUnavailable', sdk('ServiceUnavailable', 'try later', 503)],
    ['any 5xx', sdk('SomethingNew', 'bad gateway', 502)],
    ['429', sdk('SomethingNew', 'too many', 429)],
    ['ECONNRESET', netError('ECONNRESET')],
    ['ECONNREFUSED', netError('ECONNREFUSED')],
    ['ETIMEDOUT', netError('ETIMEDOUT')],
    ['ENOTFOUND', netError('ENOTFOUND')],
    ['EAI_AGAIN', netError('EAI_AGAIN')],
    ['TimeoutError by name', Object.assign(new Error('socket timed out'), { name: 'TimeoutError' })],
    ['our deadline, before any answer', new DeadlineExceeded('http://sts.test/', 2000, 'answer')],
    ['our deadline, after a 200 whose body trickled', new DeadlineExceeded('http://sts.test/', 2000, 'answer', 200)],
    [
      "InvalidIdentityToken: Couldn't retrieve verification key",
      new InvalidIdentityTokenException({ message: "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements", $metadata: meta(400) }),
    ],
  ])('%s → retry', (_label, err) => {
    expect(classifyAwsError(err)).toBe('retry');
  });
});

describe('classifyAwsError: fail', () => {
  it.each([
    ['AccessDenied', sdk('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity', 403)],
    ['InvalidIdentityTokenException (audience)', new InvalidIdentityTokenException({ message: 'Incorrect token audience', $metadata: meta(400) })],
    ['InvalidIdentityTokenException (no provider)', new InvalidIdentityTokenException({ message: 'No OpenIDConnect provider found in your account for https://gitlab.example.com', $metadata: meta(400) })],
    ['ExpiredTokenException', new ExpiredTokenException({ message: 'Token expired: current date/time 1700000100 must be before the expiration date/time 1700000000', $metadata: meta(400) })],
    ['IDPRejectedClaimException', new IDPRejectedClaimException({ message: 'rejected', $metadata: meta(403) })],
    ['ValidationError', sdk('ValidationError', "1 validation error detected: Value '99999' at 'durationSeconds' failed to satisfy constraint", 400)],
    ['a network code with an HTTP status (an answer came back)', Object.assign(sdk('Weird', 'x', 400), { code: 'ECONNRESET' })],
    ['an unknown code without status', netError('EWHATEVER')],
    ['an answer over the size cap, even with a 5xx status', new ResponseTooLarge('http://sts.test/', 503)],
    ['a plain Error', new Error('boom')],
    ['a string', 'boom'],
    ['undefined', undefined],
  ])('%s → fail', (_label, err) => {
    expect(classifyAwsError(err)).toBe('fail');
  });
});

describe('awsErrorName / isVerificationKeyError', () => {
  it('prefers name, then code, else "Error"', () => {
    expect(awsErrorName(new ExpiredTokenException({ message: 'x', $metadata: meta(400) }))).toBe('ExpiredTokenException');
    expect(awsErrorName({ code: 'ECONNRESET' })).toBe('ECONNRESET');
    expect(awsErrorName(undefined)).toBe('Error');
    expect(awsErrorName('text')).toBe('Error');
  });

  it('recognises the verification-key message whatever the case, and nothing else', () => {
    expect(isVerificationKeyError({ message: "Couldn't retrieve Verification Key from your identity provider" })).toBe(true);
    expect(isVerificationKeyError({ message: 'Incorrect token audience' })).toBe(false);
    expect(isVerificationKeyError(null)).toBe(false);
  });
});
