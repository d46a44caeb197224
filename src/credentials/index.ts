import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { AwsSettings, Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { assumeChain, assumeWithWebIdentity } from './sts.js';

export interface AwsIdentity {
  /** Undefined: let the SDK use its default chain (AWS_WEB_IDENTITY_TOKEN_FILE, profiles, instance roles). */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  source: 'web-identity' | 'static' | 'default-chain';
  roleArn?: string;
  expiration?: Date;
}

/**
 * Credentials in the documented order: OIDC ID token → STS (then AWS_ROLE_CHAIN), else static keys
 * (then AWS_ROLE_CHAIN), else the SDK's default chain.
 */
export async function resolveCredentials(aws: AwsSettings, http: Config['http'], log: Logger): Promise<AwsIdentity> {
  let identity: AwsIdentity;
  if (aws.roleArn && aws.idToken) {
    const issued = await assumeWithWebIdentity(aws, http, log);
    identity = { credentials: issued.credentials, source: 'web-identity', roleArn: issued.assumedArn, expiration: issued.credentials.expiration };
  } else if (aws.staticKeys) {
    identity = { credentials: { ...aws.staticKeys }, source: 'static' };
    log.info(`Using static AWS keys ${aws.staticKeys.accessKeyId.slice(0, 4)}… from AWS_ACCESS_KEY_ID (consider AWS_ROLE_ARN with the job's ID token instead).`);
  } else {
    log.info('No AWS_ROLE_ARN or static keys: using the AWS SDK default credential chain.');
    return { source: 'default-chain' };
  }
  if (aws.roleChain.length > 0 && identity.credentials && typeof identity.credentials !== 'function') {
    const chained = await assumeChain(aws, { credentials: identity.credentials, assumedArn: identity.roleArn ?? 'the static AWS keys' }, http, log);
    identity = { credentials: chained.credentials, source: identity.source, roleArn: chained.assumedArn, expiration: chained.credentials.expiration };
  }
  return identity;
}

