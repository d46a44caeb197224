// doctor's trust review, run as a job runs it (the bundle, real STS stand-in that checks trust policies as IAM does):
// a role whose sub condition is a bare wildcard admits the job, and doctor says so, with a Condition that is tighter,
// from what it saw and, given GESTALT_TRUST_POLICY, from the policy itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { startOidcSts, type OidcSts } from '../support/oidc-sts.js';
import { assertNoSecrets, runCli, type CliResult } from '../support/run-cli.js';
import { LAMBDA_VARS, freshBucket, projectWithPackages, s3Env, startS3Stack, writeProjectFile, type S3Stack } from './setup.js';

const ROLE = 'arn:aws:iam::111111111111:role/gitlab-deployer';

let stack: S3Stack;
let sts: OidcSts;
let gw: GatewayFake;
let dir: string;
let bucket: string;
const outputs: CliResult[] = [];
const tokens: string[] = [];

beforeAll(async () => {
  stack = await startS3Stack();
  sts = await startOidcSts({ roles: [{ arn: ROLE }] });
  gw = await startGatewayFake();
  dir = await projectWithPackages(['a.zip']);
  bucket = await freshBucket(stack);
});
afterAll(async () => {
  await gw.close();
  await sts.close();
  await stack.close();
  assertNoSecrets(outputs.map((o) => o.output), [...tokens, ...sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken])]);
});

async function doctor(trust: object, claims: Parameters<OidcSts['mintToken']>[0], extra: Record<string, string | undefined> = {}): Promise<CliResult> {
  (sts.roles[0] as { trust?: unknown }).trust = trust;
  const token = await sts.mintToken({ environment: 'review/x', ...claims });
  tokens.push(token);
  const env = s3Env(stack, bucket, {
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    AWS_ROLE_ARN: ROLE,
    GESTALT_ID_TOKEN: token,
    AWS_ENDPOINT_URL_STS: sts.stsUrl,
    CI_PROJECT_DIR: dir,
    CI_URL: gw.url,
    ...LAMBDA_VARS,
    ...extra,
  });
  const r = await runCli(['doctor'], { env, cwd: dir });
  outputs.push(r);
  return r;
}

/** The JSON block printed (indented) right after the first line matching `after`. */
function blockAfter(output: string, after: RegExp): unknown {
  const lines = output.split('\n');
  const start = lines.findIndex((l) => after.test(l));
  const open = lines.findIndex((l, i) => i > start && l.trim() === '{');
  const close = lines.findIndex((l, i) => i > open && l === lines[open]?.replace('{', '}'));
  return JSON.parse(lines.slice(open, close + 1).join('\n'));
}

describe('doctor: trust policy review', () => {
  it('a role whose sub condition is a bare wildcard: the warning, and a tighter Condition that still admits the job', async () => {
    const wildcard = sts.trustPolicyFor('*');
    const r = await doctor(wildcard, { ref: 'main', ref_protected: 'true' }, { GESTALT_TRUST_POLICY: JSON.stringify(wildcard) });
    expect(r.code, r.output).toBe(0);
    const host = sts.issuerHostPath;
    const warning = `WARNING: the trust policy of ${ROLE} admits "${host}:sub" "*": every branch of every project on ${host}, so anyone who can run a pipeline there can assume it.`;
    expect(r.output).toContain(warning);
    const tighter = blockAfter(r.output, new RegExp(warning.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))) as Record<string, Record<string, string>>;
    expect(tighter).toEqual({ StringEquals: { [`${host}:aud`]: expect.any(String), [`${host}:sub`]: 'project_path:acme/lambdas:ref_type:branch:ref:main' } });

    // Fed back as the role's condition, the tighter one admits this job and doctor has nothing left to say.
    const strict = { Statement: [{ ...wildcard.Statement[0], Condition: tighter }] };
    const ok = await doctor(strict, { ref: 'main', ref_protected: 'true' }, { GESTALT_TRUST_POLICY: JSON.stringify(strict) });
    expect(ok.code, ok.output).toBe(0);
    expect(ok.output).toMatch(/\[ ok \] AWS credentials: web-identity/);
    expect(ok.output).toMatch(/\[ ok \] nothing in the trust policy or in what .* admitted is wider than this project's protected refs/);
    expect(ok.output).not.toContain('WARNING: the trust policy');
  });

  it('without GESTALT_TRUST_POLICY: what the admission shows (an unprotected branch got in), and how to get the full review', async () => {
    const r = await doctor(sts.trustPolicyFor('*'), { ref: 'feature-x', ref_protected: 'false' });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`WARNING: ${ROLE} admitted this job although its branch 'feature-x' is not protected: anyone who can push a branch can get these credentials.`);
    expect(r.output).toContain('<protected branch, e.g. main>');
    expect(r.output).toContain("(STS does not show a role's trust policy: set GESTALT_TRUST_POLICY to it, as JSON or a file, and doctor reviews its conditions too.)");
  });

  it('GESTALT_TRUST_POLICY as a file in the project; an unreadable one is a configuration error (exit 2) naming it', async () => {
    await writeProjectFile(dir, 'infra/trust.json', JSON.stringify({ Role: { AssumeRolePolicyDocument: sts.trustPolicyFor('project_path:acme/*:ref_type:branch:ref:*') } }));
    const r = await doctor(sts.trustPolicyFor('project_path:acme/*:ref_type:branch:ref:*'), { ref: 'main' }, { GESTALT_TRUST_POLICY: 'infra/trust.json' });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/WARNING: the trust policy of .* every project whose path matches "acme\/\*", including forks/);
    expect(r.output).toMatch(/WARNING: the trust policy of .* admits every branch of those projects/);

    const bad = await doctor(sts.trustPolicyFor('*'), { ref: 'main' }, { GESTALT_TRUST_POLICY: 'infra/missing.json' });
    expect(bad.code).toBe(2);
    expect(bad.output).toContain("[FAIL] GESTALT_TRUST_POLICY: 'infra/missing.json' is neither JSON nor a readable file");
  });
});
