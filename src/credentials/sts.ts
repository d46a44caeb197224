import { AssumeRoleCommand, AssumeRoleWithWebIdentityCommand, STSClient, type Credentials } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import type { AwsSettings, Config } from '../config/types.js';
import { RemoteError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { redactor } from '../log/redact.js';
import { BoundedHttpHandler } from '../net/aws-http.js';
import { DeadlineExceeded, ResponseTooLarge } from '../net/http.js';
import { withRetry } from '../net/retry.js';
import { awsErrorName, networkCode } from '../net/aws-errors.js';
import { classifyAwsError } from './classify.js';
import { explainStsFailure, stsUnreachable } from './diagnose.js';

export interface Issued {
  credentials: AwsCredentialIdentity & { expiration?: Date };
  assumedArn: string;
}

function stsClient(aws: AwsSettings, http: Config['http'], credentials?: AwsCredentialIdentity): STSClient {
  // maxAttempts 1: our retry loop decides, so a permanent error costs exactly one call. Each try is bounded
  // (connect, answer, body, size) by the same policy as every other remote call.
  return new STSClient({ region: aws.region, endpoint: aws.stsEndpoint, maxAttempts: 1, credentials, requestHandler: new BoundedHttpHandler(http.timeoutMs) });
}

function toIdentity(creds: Credentials | undefined, roleArn: string): AwsCredentialIdentity & { expiration?: Date } {
  if (!creds?.AccessKeyId || !creds.SecretAccessKey || !creds.SessionToken) {
    throw new RemoteError(`STS answered for ${roleArn} without credentials; check AWS_ENDPOINT_URL_STS points at STS (the answer had no AssumeRole…Result/Credentials).`);
  }
  redactor.add(creds.SecretAccessKey);
  redactor.add(creds.SessionToken);
  return { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretAccessKey, sessionToken: creds.SessionToken, expiration: creds.Expiration };
}

/** STS did not answer in time, or answered more than any STS answer: no trust-policy advice applies. */
function unreachable(call: string, roleArn: string, err: DeadlineExceeded | ResponseTooLarge): RemoteError {
  if (err instanceof ResponseTooLarge) return new RemoteError(`${call} for ${roleArn} failed: ${err.detail}; check that AWS_ENDPOINT_URL_STS (or AWS_ENDPOINT_URL) points at STS.`, { cause: err });
  return new RemoteError(`${call} for ${roleArn} failed after retries: ${err.message}; check AWS_ENDPOINT_URL_STS (or AWS_ENDPOINT_URL) and that the runner can reach STS.`, { cause: err });
}

function retryLog(log: Logger, what: string) {
  return {
    onRetry: ({ attempt, delayMs, error }: { attempt: number; delayMs: number; error: unknown }) =>
      log.info(`  ${what}: ${awsErrorName(error)} (transient); retry ${attempt} in ${delayMs} ms`),
  };
}

export async function assumeWithWebIdentity(aws: AwsSettings, http: Config['http'], log: Logger): Promise<Issued> {
  const roleArn = aws.roleArn as string;
  const client = stsClient(aws, http);
  try {
    const out = await withRetry(
      () =>
        client.send(
          new AssumeRoleWithWebIdentityCommand({
            RoleArn: roleArn,
            RoleSessionName: aws.sessionName,
            WebIdentityToken: aws.idToken,
            DurationSeconds: aws.durationSeconds,
          }),
        ),
      classifyAwsError,
      http.retry,
      retryLog(log, 'AssumeRoleWithWebIdentity'),
    );
    const credentials = toIdentity(out.Credentials, roleArn);
    const assumedArn = out.AssumedRoleUser?.Arn ?? roleArn;
    log.info(`Assumed ${assumedArn} with the job's ID token; credentials expire ${credentials.expiration?.toISOString() ?? 'at an unknown time'}.`);
    return { credentials, assumedArn };
  } catch (err) {
    if (err instanceof DeadlineExceeded || err instanceof ResponseTooLarge) throw unreachable('AssumeRoleWithWebIdentity', roleArn, err);
    if (err instanceof RemoteError) throw err;
    throw new RemoteError(explainStsFailure(err, aws, log), { cause: err });
  } finally {
    client.destroy();
  }
}

/** AWS_ROLE_CHAIN: each role is assumed with the previous one's credentials (hub account → target account). */
export async function assumeChain(aws: AwsSettings, start: Issued, http: Config['http'], log: Logger): Promise<Issued> {
  let current = start;
  for (const roleArn of aws.roleChain) {
    const client = stsClient(aws, http, current.credentials);
    try {
      const out = await withRetry(
        () => client.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: aws.sessionName, DurationSeconds: Math.min(aws.durationSeconds, 3600) })),
        classifyAwsError,
        http.retry,
        retryLog(log, `AssumeRole ${roleArn}`),
      );
      const credentials = toIdentity(out.Credentials, roleArn);
      current = { credentials, assumedArn: out.AssumedRoleUser?.Arn ?? roleArn };
      log.info(`Assumed ${current.assumedArn} (AWS_ROLE_CHAIN); credentials expire ${credentials.expiration?.toISOString() ?? 'at an unknown time'}.`);
    } catch (err) {
      if (err instanceof DeadlineExceeded || err instanceof ResponseTooLarge) throw unreachable(`AssumeRole (AWS_ROLE_CHAIN)`, roleArn, err);
      if (err instanceof RemoteError) throw err;
      const name = awsErrorName(err);
      throw new RemoteError(
        name === 'AccessDenied' || name === 'AccessDeniedException'
          ? `AssumeRole ${roleArn} from ${current.assumedArn} was denied (AWS_ROLE_CHAIN): the target role's trust policy must allow "sts:AssumeRole" for principal ${current.assumedArn.replace(/^arn:aws:sts::(\d+):assumed-role\/([^/]+)\/.*$/, 'arn:aws:iam::$1:role/$2')}, and that role needs sts:AssumeRole on ${roleArn}.`
          : `AssumeRole ${roleArn} (AWS_ROLE_CHAIN) failed: ${networkCode(err) ? stsUnreachable(networkCode(err) as string, aws.stsEndpoint) : `${name}: ${(err as Error).message}`}`,
        { cause: err },
      );
    } finally {
      client.destroy();
    }
  }
  return current;
}
