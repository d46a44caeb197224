// doctor's review of the trust policy: what it can see (claims, whether the role admitted them, AWS_ROLE_CHAIN)
// and, given GESTALT_TRUST_POLICY, the policy's conditions; each finding with the stricter Condition to use.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TokenClaims } from '../../src/credentials/diagnose.js';
import { SESSION_TAGS_CLAIM, readTrustPolicy, reviewAdmission, reviewTrustPolicy, type PolicyStatement } from '../../src/credentials/trust-review.js';

const HOST = 'gitlab.example.com';
const ROLE = 'arn:aws:iam::111122223333:role/gestalt-deploy';
const PROVIDER = `arn:aws:iam::111122223333:oidc-provider/${HOST}`;
const MAIN: TokenClaims = {
  iss: `https://${HOST}`,
  aud: `https://${HOST}`,
  sub: 'project_path:acme/lambdas:ref_type:branch:ref:main',
  project_path: 'acme/lambdas',
  ref: 'main',
  ref_type: 'branch',
  ref_protected: 'true',
  pipeline_source: 'push',
};
const FEATURE: TokenClaims = { ...MAIN, sub: 'project_path:acme/lambdas:ref_type:branch:ref:feature-x', ref: 'feature-x', ref_protected: 'false' };

type Condition = NonNullable<PolicyStatement['Condition']>;
const statement = (condition?: Condition, action: string | string[] = 'sts:AssumeRoleWithWebIdentity'): PolicyStatement => ({
  Effect: 'Allow',
  Principal: { Federated: PROVIDER },
  Action: action,
  ...(condition ? { Condition: condition } : {}),
});
const aud = { [`${HOST}:aud`]: `https://${HOST}` };
const withSub = (sub: string, op = 'StringLike') => statement({ StringEquals: aud, [op]: { [`${HOST}:sub`]: sub } });
const exactMain = { StringEquals: { [`${HOST}:aud`]: `https://${HOST}`, [`${HOST}:sub`]: 'project_path:acme/lambdas:ref_type:branch:ref:main' } };
const risks = (findings: { risk: string }[]) => findings.map((f) => f.risk);

describe('reviewTrustPolicy (GESTALT_TRUST_POLICY)', () => {
  it('a bare wildcard sub: every branch of every project, with the exact Condition for this project and protected ref', () => {
    const findings = reviewTrustPolicy([withSub('*')], MAIN, ROLE);
    expect(risks(findings)).toEqual([`the trust policy of ${ROLE} admits "${HOST}:sub" "*": every branch of every project on ${HOST}, so anyone who can run a pipeline there can assume it.`]);
    expect(findings[0]?.example).toEqual(exactMain);
  });

  it('no sub condition at all: any project on the instance', () => {
    const findings = reviewTrustPolicy([statement({ StringEquals: aud })], MAIN, ROLE);
    expect(risks(findings)).toEqual([`the trust policy of ${ROLE} has no "${HOST}:sub" condition: any job of any project on ${HOST} whose token has the right audience can assume it.`]);
    expect(findings[0]?.example).toEqual(exactMain);
    expect(reviewTrustPolicy([statement()], MAIN, ROLE)).toHaveLength(1);
  });

  it('a wildcard in the project path: other projects and forks in other namespaces', () => {
    const findings = reviewTrustPolicy([withSub('project_path:*/lambdas:ref_type:branch:ref:main')], MAIN, ROLE);
    expect(risks(findings)).toEqual([
      `the trust policy of ${ROLE} admits "${HOST}:sub" "project_path:*/lambdas:ref_type:branch:ref:main": every project whose path matches "*/lambdas", including forks (a fork's jobs carry the fork's own project_path, e.g. someone-else/lambdas).`,
    ]);
    expect(risks(reviewTrustPolicy([withSub('project_path:acme/*:ref_type:branch:ref:main')], MAIN, ROLE))[0]).toMatch(/every project whose path matches "acme\/\*", including forks/);
  });

  it('every branch of the project: unprotected branches and fork merge request pipelines; the fix for an unprotected job names a protected branch', () => {
    const findings = reviewTrustPolicy([withSub('project_path:acme/lambdas:ref_type:branch:ref:*')], FEATURE, ROLE);
    expect(risks(findings)).toEqual([
      `the trust policy of ${ROLE} admits every branch of acme/lambdas ("project_path:acme/lambdas:ref_type:branch:ref:*"): unprotected branches anyone with the Developer role can push, and merge request pipelines from forks that run in this project.`,
    ]);
    expect(findings[0]?.example).toEqual({
      StringEquals: { [`${HOST}:aud`]: `https://${HOST}`, [`${HOST}:sub`]: 'project_path:acme/lambdas:ref_type:branch:ref:<protected branch, e.g. main>' },
    });
  });

  it('exact subs, lists of them, and tag patterns are not flagged', () => {
    expect(reviewTrustPolicy([statement(exactMain)], MAIN, ROLE)).toEqual([]);
    expect(reviewTrustPolicy([withSub('project_path:acme/lambdas:ref_type:tag:ref:v*')], MAIN, ROLE)).toEqual([]);
    const two = statement({ StringEquals: { ...aud, [`${HOST}:sub`]: ['project_path:acme/lambdas:ref_type:branch:ref:main', 'project_path:acme/lambdas:ref_type:tag:ref:1.0.0'] } });
    expect(reviewTrustPolicy([two], MAIN, ROLE)).toEqual([]);
  });

  it('reads the condition key case-insensitively and ignores statements for other providers or actions', () => {
    expect(reviewTrustPolicy([statement({ StringLike: { [`GitLab.Example.com:SUB`]: '*' } })], MAIN, ROLE)).toHaveLength(1);
    const other = { ...withSub('*'), Principal: { Federated: 'arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com' } };
    expect(risks(reviewTrustPolicy([other, statement(exactMain)], MAIN, ROLE))).toEqual([]);
    expect(risks(reviewTrustPolicy([other], MAIN, ROLE))[0]).toMatch(/has no Allow statement for sts:AssumeRoleWithWebIdentity from the OIDC provider gitlab\.example\.com/);
  });

  it('session tags in the token without sts:TagSession: the statement with both actions', () => {
    const tagged = { ...MAIN, [SESSION_TAGS_CLAIM]: { principal_tags: { team: ['lambdas'] } } };
    const findings = reviewTrustPolicy([statement(exactMain)], tagged, ROLE);
    expect(risks(findings)).toEqual([`the ID token carries session tags (${SESSION_TAGS_CLAIM}) but the trust policy of ${ROLE} does not allow sts:TagSession: STS refuses the exchange.`]);
    expect(findings[0]?.example).toMatchObject({ Action: ['sts:AssumeRoleWithWebIdentity', 'sts:TagSession'] });
    expect(reviewTrustPolicy([statement(exactMain, ['sts:AssumeRoleWithWebIdentity', 'sts:TagSession'])], tagged, ROLE)).toEqual([]);
  });
});

describe('reviewAdmission (what doctor saw)', () => {
  it('a role that admitted an unprotected branch, and one that admitted a merge request pipeline', () => {
    expect(risks(reviewAdmission(FEATURE, { admitted: true, role: ROLE, roleChain: [] }))).toEqual([
      `${ROLE} admitted this job although its branch 'feature-x' is not protected: anyone who can push a branch can get these credentials.`,
    ]);
    const mr = reviewAdmission({ ...MAIN, pipeline_source: 'merge_request_event' }, { admitted: true, role: ROLE, roleChain: [] });
    expect(risks(mr)).toEqual([`${ROLE} admitted a merge request pipeline: if this project runs pipelines for merge requests from forks, the fork's code runs with these credentials.`]);
  });

  it('nothing to say when the role refused, or admitted a protected ref of a push pipeline', () => {
    expect(reviewAdmission(FEATURE, { admitted: false, role: ROLE, roleChain: [] })).toEqual([]);
    expect(reviewAdmission(MAIN, { admitted: true, role: ROLE, roleChain: [] })).toEqual([]);
  });

  it('session tags and AWS_ROLE_CHAIN: each chained role needs sts:TagSession for the role before it', () => {
    const target = 'arn:aws:iam::444455556666:role/gestalt-target';
    const tagged = { ...MAIN, [SESSION_TAGS_CLAIM]: { principal_tags: { team: ['lambdas'] }, transitive_tag_keys: ['team'] } };
    const findings = reviewAdmission(tagged, { admitted: true, role: ROLE, roleChain: [target] });
    expect(risks(findings)).toEqual([
      `the ID token carries session tags (transitive: team) and AWS_ROLE_CHAIN assumes ${target}: tags travel along the chain, so each of those roles must allow sts:TagSession as well as sts:AssumeRole, or the hop is denied.`,
    ]);
    expect(findings[0]?.example).toEqual([{ role: target, Statement: { Effect: 'Allow', Principal: { AWS: ROLE }, Action: ['sts:AssumeRole', 'sts:TagSession'] } }]);
    expect(reviewAdmission(tagged, { admitted: true, role: ROLE, roleChain: [] })).toEqual([]);
  });
});

describe('readTrustPolicy', () => {
  const policy = { Version: '2012-10-17', Statement: [withSub('*')] };

  it('takes the document as JSON, `aws iam get-role` output (also URL-encoded), or a file relative to the project dir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trust-policy-'));
    await writeFile(join(dir, 'trust.json'), JSON.stringify({ Role: { AssumeRolePolicyDocument: policy } }));
    for (const value of [JSON.stringify(policy), JSON.stringify({ Role: { AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify(policy)) } }), 'trust.json', join(dir, 'trust.json')]) {
      expect(readTrustPolicy(value, dir).statements, value).toEqual(policy.Statement);
    }
    expect(readTrustPolicy(undefined, dir)).toEqual({});
  });

  it('names GESTALT_TRUST_POLICY and says what to give when it is unusable', () => {
    expect(readTrustPolicy('missing.json', tmpdir()).problem).toEqual({
      variable: 'GESTALT_TRUST_POLICY',
      message: "'missing.json' is neither JSON nor a readable file; give the role's trust policy (aws iam get-role --query Role.AssumeRolePolicyDocument) or a file holding it.",
    });
    expect(readTrustPolicy('{not json', tmpdir()).problem?.message).toMatch(/^is not valid JSON/);
    expect(readTrustPolicy('{"Version":"2012-10-17"}', tmpdir()).problem?.message).toBe('has no Statement; give the whole trust policy document.');
  });
});
