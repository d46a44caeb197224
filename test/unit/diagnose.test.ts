// Turning an STS refusal into what to change: claims decoded (never verified, never printed whole), the trust-policy
// condition that would admit the job, and one sentence per failure class.
import { ExpiredTokenException, InvalidIdentityTokenException, STSServiceException } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import type { AwsSettings } from '../../src/config/types.js';
import { decodeClaims, explainStsFailure, formatClaims, providerHost, trustCondition, trustPolicy, wildcardSub } from '../../src/credentials/diagnose.js';
import type { TokenClaims } from '../../src/credentials/diagnose.js';
import { createLogger } from '../../src/log/logger.js';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const jwt = (claims: unknown) => `${b64({ alg: 'RS256', kid: 'k1', typ: 'JWT' })}.${b64(claims)}.${b64('not-a-real-signature-but-long-enough')}`;

const ROLE = 'arn:aws:iam::111122223333:role/gestalt-deploy';
const SUB = 'project_path:acme/lambdas:ref_type:branch:ref:main';
const CLAIMS: TokenClaims = {
  iss: 'https://gitlab.example.com',
  aud: 'sts.amazonaws.com',
  sub: SUB,
  project_path: 'acme/lambdas',
  ref: 'main',
  ref_type: 'branch',
  ref_protected: 'true',
  environment: 'review/main',
  exp: 1_700_000_000,
  iat: 1_699_996_400,
  namespace_id: '7',
};
const TOKEN = jwt(CLAIMS);
const aws = (over: Partial<AwsSettings> = {}): AwsSettings => ({
  region: 'eu-west-1', roleArn: ROLE, idToken: TOKEN, sessionName: 'gitlab-1-2-3', durationSeconds: 3600, roleChain: [], ...over,
});
const meta = { httpStatusCode: 400, attempts: 1, totalRetryDelay: 0 };
const sdk = (name: string, message: string) => new STSServiceException({ name, $fault: 'client', message, $metadata: meta });

function explain(err: unknown, settings: AwsSettings = aws()) {
  const out: string[] = [];
  const log = createLogger({ debug: true, gitlab: false, write: (t) => out.push(t) });
  const sentence = explainStsFailure(err, settings, log);
  return { sentence, logged: out.join('') };
}

describe('decodeClaims', () => {
  it('decodes the payload of a JWT without verifying it', () => {
    expect(decodeClaims(TOKEN)).toEqual(CLAIMS);
  });

  it.each([
    ['undefined', undefined],
    ['empty', ''],
    ['no dots', 'garbage'],
    ['empty payload', 'a..c'],
    ['payload not base64 JSON', 'a.!!!not base64!!!.c'],
    ['payload is JSON but a number', `a.${b64('123')}.c`],
    ['payload is JSON null', `a.${b64('null')}.c`],
    ['payload is truncated JSON', `a.${b64('{"iss":"x"')}.c`],
  ])('returns undefined, never throws, for %s', (_label, token) => {
    expect(() => decodeClaims(token)).not.toThrow();
    expect(decodeClaims(token)).toBeUndefined();
  });
});

describe('providerHost, trustCondition, trustPolicy, wildcardSub', () => {
  it('strips the scheme and trailing slashes from the issuer', () => {
    expect(providerHost('https://gitlab.example.com')).toBe('gitlab.example.com');
    expect(providerHost('https://gitlab.example.com/gitlab/')).toBe('gitlab.example.com/gitlab');
    expect(providerHost('http://localhost:8080//')).toBe('localhost:8080');
  });

  it('uses StringEquals for an exact sub', () => {
    expect(trustCondition(CLAIMS)).toEqual({
      StringEquals: { 'gitlab.example.com:aud': 'sts.amazonaws.com', 'gitlab.example.com:sub': SUB },
    });
  });

  it('uses StringLike for the sub when it has * or ?, keeping aud under StringEquals', () => {
    expect(trustCondition(CLAIMS, 'project_path:acme/lambdas:ref_type:branch:ref:*')).toEqual({
      StringEquals: { 'gitlab.example.com:aud': 'sts.amazonaws.com' },
      StringLike: { 'gitlab.example.com:sub': 'project_path:acme/lambdas:ref_type:branch:ref:*' },
    });
    expect(Object.keys(trustCondition({ ...CLAIMS, sub: 'project_path:acme/lambdas:ref_type:tag:ref:v?' }))).toEqual(['StringEquals', 'StringLike']);
  });

  it('takes the first audience when aud is a list', () => {
    expect(trustCondition({ ...CLAIMS, aud: ['first-aud', 'second-aud'] }).StringEquals).toEqual({
      'gitlab.example.com:aud': 'first-aud',
      'gitlab.example.com:sub': SUB,
    });
  });

  it('builds a trust policy whose Federated principal uses the role ARN account and partition', () => {
    expect(trustPolicy(CLAIMS, ROLE)).toEqual({
      Version: '2012-10-17',
      Statement: [{
        Effect: 'Allow',
        Principal: { Federated: 'arn:aws:iam::111122223333:oidc-provider/gitlab.example.com' },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: { StringEquals: { 'gitlab.example.com:aud': 'sts.amazonaws.com', 'gitlab.example.com:sub': SUB } },
      }],
    });
    const cn = trustPolicy(CLAIMS, 'arn:aws-cn:iam::444455556666:role/x') as { Statement: { Principal: { Federated: string } }[] };
    expect(cn.Statement[0]!.Principal.Federated).toBe('arn:aws-cn:iam::444455556666:oidc-provider/gitlab.example.com');
    const none = trustPolicy(CLAIMS, undefined) as { Statement: { Principal: { Federated: string } }[] };
    expect(none.Statement[0]!.Principal.Federated).toBe('arn:aws:iam::<account id>:oidc-provider/gitlab.example.com');
  });

  it('offers a wildcard sub for every ref of the same type, when the claims allow', () => {
    expect(wildcardSub(CLAIMS)).toBe('project_path:acme/lambdas:ref_type:branch:ref:*');
    expect(wildcardSub({ ...CLAIMS, project_path: undefined })).toBeUndefined();
    expect(wildcardSub({ ...CLAIMS, ref_type: undefined })).toBeUndefined();
  });

  it('formats the shown claims, with exp as an ISO date and absent ones marked', () => {
    expect(formatClaims({ iss: 'https://g', aud: ['a', 'b'], exp: 1_700_000_000 })).toEqual([
      '  iss: https://g',
      '  aud: a, b',
      '  sub: (absent)',
      '  project_path: (absent)',
      '  ref: (absent)',
      '  ref_type: (absent)',
      '  ref_protected: (absent)',
      '  environment: (absent)',
      '  exp: 2023-11-14T22:13:20.000Z',
    ]);
  });
});

describe('explainStsFailure', () => {
  it('expired token: says when, and to retry', () => {
    const err = new ExpiredTokenException({ message: 'Token expired: current date/time 1700000100 must be before the expiration date/time 1700000000', $metadata: meta });
    expect(explain(err).sentence).toBe(
      `AssumeRoleWithWebIdentity for ${ROLE} failed: the ID token expired at 2023-11-14T22:13:20.000Z; the job waited too long before exchanging it (ID tokens last as long as the job timeout) — retry the job.`,
    );
  });

  it('wrong audience: names the audience and the provider', () => {
    const err = new InvalidIdentityTokenException({ message: 'Incorrect token audience', $metadata: meta });
    expect(explain(err).sentence).toBe(
      `AssumeRoleWithWebIdentity for ${ROLE} failed: the token's audience 'sts.amazonaws.com' is not a client ID of the IAM OIDC provider gitlab.example.com; add it to the provider's audiences, or set id_tokens: GESTALT_ID_TOKEN: aud: to one it lists.`,
    );
  });

  it('no OIDC provider: says which one to create', () => {
    const err = new InvalidIdentityTokenException({ message: 'No OpenIDConnect provider found in your account for https://gitlab.example.com', $metadata: meta });
    expect(explain(err).sentence).toBe(
      `AssumeRoleWithWebIdentity for ${ROLE} failed: the role's account has no IAM OIDC identity provider for https://gitlab.example.com; create one with provider URL https://gitlab.example.com and audience sts.amazonaws.com.`,
    );
  });

  it('verification key: says AWS must reach the issuer keys', () => {
    const err = new InvalidIdentityTokenException({ message: "Couldn't retrieve verification key from your identity provider", $metadata: meta });
    expect(explain(err).sentence).toBe(
      `AssumeRoleWithWebIdentity for ${ROLE} failed: AWS could not fetch the signing keys from https://gitlab.example.com/oauth/discovery/keys; the GitLab instance must be reachable from AWS over HTTPS with a public certificate.`,
    );
  });

  it('other invalid token: quotes STS and points at the provider', () => {
    const err = new InvalidIdentityTokenException({ message: 'Signature validation failed', $metadata: meta });
    expect(explain(err).sentence).toBe(
      `AssumeRoleWithWebIdentity for ${ROLE} failed: STS rejected the ID token (Signature validation failed); check the IAM OIDC provider gitlab.example.com matches the issuer and its thumbprint/keys are current.`,
    );
  });

  it('AccessDenied: names sub, aud and the `<host>:sub` condition key', () => {
    const { sentence } = explain(sdk('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity'));
    expect(sentence).toBe(
      `AssumeRoleWithWebIdentity for ${ROLE} was denied: the role's trust policy does not admit sub '${SUB}' with aud 'sts.amazonaws.com'; add the Condition printed above (keys "gitlab.example.com:sub" and "gitlab.example.com:aud"), or run the job from an allowed branch.`,
    );
  });

  it('duration above the role maximum: names AWS_ROLE_DURATION_SECONDS and its value', () => {
    const err = sdk('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    expect(explain(err, aws({ durationSeconds: 43200 })).sentence).toBe(
      `AssumeRoleWithWebIdentity for ${ROLE} failed: AWS_ROLE_DURATION_SECONDS=43200 exceeds the role's maximum session duration; lower it or raise the role's MaxSessionDuration.`,
    );
  });

  it('other validation errors: point at the role ARN and session name', () => {
    expect(explain(sdk('ValidationError', 'Invalid RoleSessionName')).sentence).toBe(
      `AssumeRoleWithWebIdentity for ${ROLE} failed: Invalid RoleSessionName (check AWS_ROLE_ARN and AWS_ROLE_SESSION_NAME).`,
    );
  });

  it('anything else: name, message, and the STS endpoint when one is set', () => {
    expect(explain(sdk('InternalFailure', 'oops'), aws({ stsEndpoint: 'http://127.0.0.1:5000' })).sentence).toBe(
      `AssumeRoleWithWebIdentity for ${ROLE} failed after retries: InternalFailure: oops (STS endpoint http://127.0.0.1:5000).`,
    );
    expect(explain(sdk('InternalFailure', 'oops')).sentence).toBe(`AssumeRoleWithWebIdentity for ${ROLE} failed after retries: InternalFailure: oops.`);
  });

  it('logs the decoded claims and the condition that would admit the job', () => {
    const { logged } = explain(sdk('AccessDenied', 'Not authorized'));
    const lines = logged.split('\n');
    expect(lines).toContain('ID token claims (decoded, not verified):');
    expect(lines).toContain(`  sub: ${SUB}`);
    expect(lines).toContain('  exp: 2023-11-14T22:13:20.000Z');
    expect(lines).toContain(`Role: ${ROLE}`);
    expect(logged).toContain(JSON.stringify(trustCondition(CLAIMS), null, 2));
    expect(logged).toContain('(for every branch of the project use StringLike on "gitlab.example.com:sub": "project_path:acme/lambdas:ref_type:branch:ref:*")');
  });

  it('never logs or returns the whole token, nor its signature', () => {
    const signature = TOKEN.split('.')[2]!;
    for (const err of [
      sdk('AccessDenied', 'Not authorized'),
      new InvalidIdentityTokenException({ message: 'Incorrect token audience', $metadata: meta }),
      new ExpiredTokenException({ message: 'expired', $metadata: meta }),
      sdk('InternalFailure', 'oops'),
    ]) {
      const { sentence, logged } = explain(err);
      expect(logged).not.toContain(TOKEN);
      expect(logged).not.toContain(signature);
      expect(sentence).not.toContain(TOKEN);
      expect(sentence).not.toContain(signature);
    }
  });

  it('does not print the token itself even when the redactor would not recognise it (unsigned, empty signature)', () => {
    const unsigned = `${b64({ alg: 'none' })}.${b64(CLAIMS)}.`;
    const { sentence, logged } = explain(sdk('AccessDenied', 'Not authorized'), aws({ idToken: unsigned }));
    expect(logged).toContain(`  sub: ${SUB}`); // it was decoded
    expect(logged).not.toContain(b64(CLAIMS));
    expect(sentence).not.toContain(b64(CLAIMS));
  });

  it('without a decodable token says so, and still explains with placeholders', () => {
    const { sentence, logged } = explain(sdk('AccessDenied', 'Not authorized'), aws({ idToken: 'not-a-jwt', roleArn: undefined }));
    expect(logged).toBe("The ID token could not be decoded (not a JWT); check GESTALT_ID_TOKEN comes from id_tokens:.\n");
    expect(sentence).toBe(
      `AssumeRoleWithWebIdentity for AWS_ROLE_ARN was denied: the role's trust policy does not admit sub '?' with aud ''; add the Condition printed above (keys "<issuer>:sub" and "<issuer>:aud"), or run the job from an allowed branch.`,
    );
  });
});
