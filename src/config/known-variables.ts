import { closest } from './closest.js';

// The one list of variable names the runner reads (env.ts reads exactly these; the README's variables table
// lists exactly these; test/unit/known-variables.test.ts keeps the three in step). A job variable that looks
// like ours but is not on the list is almost always a typo that would otherwise be silently ignored.

export const KNOWN_VARIABLES = [
  'LAMBDA_ARTIFACTS',
  'LAMBDA_RUNTIME',
  'LAMBDA_HANDLER',
  'LAMBDA_MEMORY',
  'LAMBDA_CPUS',
  'LAMBDA_TIMEOUT',
  'LAMBDA_METHODS',
  'LAMBDA_PUBLIC',
  'LAMBDA_API',
  'LAMBDA_ENVIRONMENT_ID',
  'GESTALT_CONFIG',
  'GESTALT_META_URL',
  'GESTALT_ORG',
  'GESTALT_LAMBDA_PROVIDER_ID',
  'GESTALT_GATEWAY_URL',
  'GESTALT_TOKEN',
  'CI_URL',
  'GF_API_KEY',
  'GF_API_SECRET',
  'S3_BUCKET_NAME',
  'S3_PREFIX',
  'S3_FORCE_PATH_STYLE',
  'GESTALT_PACKAGE_ACCESS',
  'GESTALT_PRESIGN_EXPIRES',
  'AWS_ROLE_ARN',
  'GESTALT_ID_TOKEN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_ROLE_DURATION_SECONDS',
  'AWS_ROLE_CHAIN',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_STS',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'GESTALT_NAME_TEMPLATE',
  'GESTALT_ENVIRONMENT_URL_FUNCTION',
  'GESTALT_CONCURRENCY',
  'GESTALT_HTTP_TIMEOUT',
  'GESTALT_RETRY_ATTEMPTS',
  'GESTALT_DEBUG',
  'GESTALT_HISTORY_LIMIT',
  'GESTALT_ROLLBACK_TO',
  'GESTALT_PROMOTE_FROM',
  'GESTALT_VERIFY_TIMEOUT',
  'GESTALT_VERIFY_ROLLBACK',
  'GESTALT_PLAN',
  'GESTALT_PRUNE_ENVIRONMENTS',
  'GESTALT_PRUNE_PACKAGES_DAYS',
  'GESTALT_PRUNE_AFTER_DAYS',
  'GESTALT_TRUST_POLICY',
] as const;

/**
 * Ours too, but never read: the template's image variable, and what the dotenv report hands to later jobs
 * (a stop or smoke-test job that `needs:` the deploy job receives them).
 */
export const OWN_OUTPUTS = ['GESTALT_IMAGE', 'GESTALT_ENVIRONMENT_URL', 'GESTALT_DEPLOY_STATUS', 'GESTALT_DEPLOY_MODE', 'GESTALT_FUNCTION_COUNT', 'GESTALT_DEPLOYMENT_RECORD'] as const;

/** The prefixes that mark a variable as meant for gestalt-deploy. AWS_* is shared with every AWS tool, so not checked. */
export const OUR_PREFIXES = ['LAMBDA_', 'GESTALT_', 'S3_', 'GF_'] as const;

/** One warning per job variable that looks like ours but is not, with the nearest known name when there is one. */
export function unknownVariableWarnings(env: Record<string, string | undefined>): string[] {
  const known = new Set<string>([...KNOWN_VARIABLES, ...OWN_OUTPUTS]);
  return Object.keys(env)
    .filter((name) => OUR_PREFIXES.some((p) => name.startsWith(p)) && !known.has(name))
    .sort()
    .map((name) => {
      const near = closest(name, KNOWN_VARIABLES);
      return near
        ? `${name} is not a gestalt-deploy variable; did you mean ${near}? (${name} is ignored)`
        : `${name} is not a gestalt-deploy variable and is ignored; see the README's variables table for the names the runner reads.`;
    });
}
