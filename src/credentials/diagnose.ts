import type { AwsSettings } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { awsErrorName, networkCode } from '../net/aws-errors.js';
import { isVerificationKeyError } from './classify.js';

// Turns "Not authorized to perform sts:AssumeRoleWithWebIdentity" into what to change: the token's
// claims (decoded, never verified, never printed whole) next to the trust-policy condition that would
// admit this job.

export interface TokenClaims {
  iss?: string;
  aud?: string | string[];
  sub?: string;
  project_path?: string;
  ref?: string;
  ref_type?: string;
  ref_protected?: string;
  environment?: string;
  exp?: number;
  iat?: number;
  [claim: string]: unknown;
}

export const SHOWN_CLAIMS = ['iss', 'aud', 'sub', 'project_path', 'ref', 'ref_type', 'ref_protected', 'environment', 'exp'] as const;

export function decodeClaims(token: string | undefined): TokenClaims | undefined {
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' ? (claims as TokenClaims) : undefined;
  } catch {
    return undefined;
  }
}

/** IAM names OIDC condition keys after the issuer without its scheme: gitlab.example.com:sub. */
export function providerHost(iss: string): string {
  return iss.replace(/^https?:\/\//, '').replace(/\/+$/, '');
}

const firstAud = (aud: TokenClaims['aud']) => (Array.isArray(aud) ? aud[0] : aud) ?? '';

export function formatClaims(claims: TokenClaims): string[] {
  return SHOWN_CLAIMS.map((name) => {
    const value = claims[name];
    if (value === undefined) return `  ${name}: (absent)`;
    if (name === 'exp' && typeof value === 'number') return `  exp: ${new Date(value * 1000).toISOString()}`;
    return `  ${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}`;
  });
}

/** The Condition block that admits exactly this job's project and ref, plus a wildcard variant. */
export function trustCondition(claims: TokenClaims, subPattern?: string): Record<string, Record<string, string>> {
  const host = providerHost(claims.iss ?? '');
  const sub = subPattern ?? claims.sub ?? '';
  const subOperator = /[*?]/.test(sub) ? 'StringLike' : 'StringEquals';
  const condition: Record<string, Record<string, string>> = { StringEquals: { [`${host}:aud`]: firstAud(claims.aud) } };
  condition[subOperator] = { ...(condition[subOperator] ?? {}), [`${host}:sub`]: sub };
  return condition;
}

export function trustPolicy(claims: TokenClaims, roleArn: string | undefined, subPattern?: string): object {
  const account = /^arn:aws[a-z-]*:iam::(\d{12}):/.exec(roleArn ?? '')?.[1] ?? '<account id>';
  const partition = /^arn:(aws[a-z-]*):/.exec(roleArn ?? '')?.[1] ?? 'aws';
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:${partition}:iam::${account}:oidc-provider/${providerHost(claims.iss ?? '')}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: trustCondition(claims, subPattern),
      },
    ],
  };
}

/** A branch-wide pattern for the same project and ref type: project_path:acme/app:ref_type:branch:ref:* */
export function wildcardSub(claims: TokenClaims): string | undefined {
  if (!claims.project_path || !claims.ref_type) return undefined;
  return `project_path:${claims.project_path}:ref_type:${claims.ref_type}:ref:*`;
}

export function logDiagnosis(claims: TokenClaims | undefined, aws: AwsSettings, log: Logger): void {
  if (!claims) {
    log.info('The ID token could not be decoded (not a JWT); check GESTALT_ID_TOKEN comes from id_tokens:.');
    return;
  }
  log.info('ID token claims (decoded, not verified):');
  for (const line of formatClaims(claims)) log.info(line);
  log.info(`Role: ${aws.roleArn ?? '(none)'}`);
  log.info('A trust-policy Condition that admits this job:');
  log.info(JSON.stringify(trustCondition(claims), null, 2));
  const wide = wildcardSub(claims);
  if (wide) log.info(`(for every ${claims.ref_type} of the project use StringLike on "${providerHost(claims.iss ?? '')}:sub": "${wide}")`);
}

/** One sentence per error class; the claims and the matching condition are logged beside it. */
export function explainStsFailure(err: unknown, aws: AwsSettings, log: Logger): string {
  const claims = decodeClaims(aws.idToken);
  logDiagnosis(claims, aws, log);
  const name = awsErrorName(err);
  const message = (err as Error)?.message ?? String(err);
  const host = providerHost(claims?.iss ?? '<issuer>');
  const aud = firstAud(claims?.aud);
  const role = aws.roleArn ?? 'AWS_ROLE_ARN';
  if (name === 'ExpiredTokenException' || /expired/i.test(message)) {
    const exp = claims?.exp ? new Date(claims.exp * 1000).toISOString() : 'an unknown time';
    return `AssumeRoleWithWebIdentity for ${role} failed: the ID token expired at ${exp}; the job waited too long before exchanging it (ID tokens last as long as the job timeout) — retry the job.`;
  }
  if (isVerificationKeyError(err)) {
    return `AssumeRoleWithWebIdentity for ${role} failed: AWS could not fetch the signing keys from ${claims?.iss ?? 'the issuer'}/oauth/discovery/keys; the GitLab instance must be reachable from AWS over HTTPS with a public certificate.`;
  }
  if (/no openidconnect provider/i.test(message)) {
    return `AssumeRoleWithWebIdentity for ${role} failed: the role's account has no IAM OIDC identity provider for ${claims?.iss ?? 'the issuer'}; create one with provider URL ${claims?.iss ?? '<CI_SERVER_URL>'} and audience ${aud || '<aud>'}.`;
  }
  if (name.startsWith('InvalidIdentityToken') && /audience/i.test(message)) {
    return `AssumeRoleWithWebIdentity for ${role} failed: the token's audience '${aud}' is not a client ID of the IAM OIDC provider ${host}; add it to the provider's audiences, or set id_tokens: GESTALT_ID_TOKEN: aud: to one it lists.`;
  }
  if (name.startsWith('InvalidIdentityToken')) {
    return `AssumeRoleWithWebIdentity for ${role} failed: STS rejected the ID token (${message}); check the IAM OIDC provider ${host} matches the issuer and its thumbprint/keys are current.`;
  }
  if (name === 'AccessDenied' || name === 'AccessDeniedException') {
    return `AssumeRoleWithWebIdentity for ${role} was denied: the role's trust policy does not admit sub '${claims?.sub ?? '?'}' with aud '${aud}'; add the Condition printed above (keys "${host}:sub" and "${host}:aud"), or run the job from an allowed branch.`;
  }
  if (name === 'ValidationError' && /DurationSeconds/i.test(message)) {
    return `AssumeRoleWithWebIdentity for ${role} failed: AWS_ROLE_DURATION_SECONDS=${aws.durationSeconds} exceeds the role's maximum session duration; lower it or raise the role's MaxSessionDuration.`;
  }
  if (name === 'ValidationError') {
    return `AssumeRoleWithWebIdentity for ${role} failed: ${message} (check AWS_ROLE_ARN and AWS_ROLE_SESSION_NAME).`;
  }
  const unreachable = networkCode(err);
  if (unreachable) return `AssumeRoleWithWebIdentity for ${role} failed: ${stsUnreachable(unreachable, aws.stsEndpoint)}`;
  return `AssumeRoleWithWebIdentity for ${role} failed after retries: ${name}: ${message}${aws.stsEndpoint ? ` (STS endpoint ${aws.stsEndpoint})` : ''}.`;
}

/** No HTTP answer from STS: the endpoint override (or the region that names it) is what to check. */
export function stsUnreachable(code: string, endpoint: string | undefined): string {
  return `STS${endpoint ? ` at ${endpoint}` : ''} could not be reached (${code}) after retries; check AWS_ENDPOINT_URL_STS (unset it for AWS itself) or AWS_REGION, and that the runner can reach STS.`;
}
