import { ConfigError } from '../errors.js';
import { isMissingCredentials } from '../net/aws-errors.js';

// Kept apart from the STS code so the command line can translate this error without loading the AWS SDK.

/**
 * The SDK default chain found no credentials: a configuration mistake, not a remote failure, whichever AWS
 * call first needed them. Undefined for any other error.
 */
export function missingCredentials(err: unknown): ConfigError | undefined {
  if (!isMissingCredentials(err)) return undefined;
  return new ConfigError([
    {
      variable: 'AWS_ROLE_ARN',
      message: 'is not set (nor AWS_ACCESS_KEY_ID), and the AWS SDK found no credentials of its own (profile, web identity file, instance or task role); set AWS_ROLE_ARN to a role that trusts the job\'s ID token (the template requests the token), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.',
    },
  ]);
}
