import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOidcSts, type OidcSts } from '../support/oidc-sts.js';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { assertNoSecrets, runCli, type CliResult } from '../support/run-cli.js';
import { LAMBDA_VARS, freshBucket, projectWithPackages, s3Env, startS3Stack, type S3Stack } from './setup.js';

const HUB_ROLE = 'arn:aws:iam::111111111111:role/gitlab-deployer';
const TARGET_ROLE = 'arn:aws:iam::222222222222:role/gestalt-packages';

let stack: S3Stack;
let sts: OidcSts;
let gw: GatewayFake;
let bucket: string;
let dir: string;
const outputs: CliResult[] = [];
const tokens: string[] = [];

beforeAll(async () => {
  stack = await startS3Stack();
  sts = await startOidcSts({ roles: [{ arn: HUB_ROLE }, { arn: TARGET_ROLE, trustedRoles: [HUB_ROLE] }] });
  gw = await startGatewayFake();
  dir = await projectWithPackages(['a.zip', 'b.zip']);
});
beforeEach(async () => {
  bucket = await freshBucket(stack);
  (sts.roles[0] as { trust?: unknown }).trust = sts.trustPolicyFor('project_path:acme/lambdas:ref_type:branch:ref:main');
});
afterAll(async () => {
  await gw.close();
  await sts.close();
  await stack.close();
  // Across the whole file: no ID token, no issued secret key or session token in any log or report.
  const issued = sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]);
  assertNoSecrets(outputs.flatMap((o) => [o.output, o.files.env, JSON.stringify(o.files.json ?? {}), JSON.stringify(o.files.annotations ?? {})]), [...tokens, ...issued]);
});

async function token(overrides: Parameters<OidcSts['mintToken']>[0] = {}, opts?: Parameters<OidcSts['mintToken']>[1]): Promise<string> {
  const t = await sts.mintToken({ environment: 'review/main', ...overrides }, opts);
  tokens.push(t);
  return t;
}

function oidcEnv(idToken: string, extra: Record<string, string | undefined> = {}) {
  return s3Env(stack, bucket, {
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    AWS_ROLE_ARN: HUB_ROLE,
    GESTALT_ID_TOKEN: idToken,
    AWS_ENDPOINT_URL_STS: sts.stsUrl,
    CI_PROJECT_DIR: dir,
    CI_URL: gw.url,
    ...LAMBDA_VARS,
    ...extra,
  });
}

async function run(args: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  const r = await runCli(args, { env, cwd: dir });
  outputs.push(r);
  return r;
}

const stsCalls = () => sts.requests.length;

describe('keyless: ID token → STS → S3', () => {
  it('deploys with temporary credentials from AssumeRoleWithWebIdentity', async () => {
    const mark = stack.proxy.requests.length;
    const r = await run(['deploy'], oidcEnv(await token()));
    expect(r.code, r.output).toBe(0);
    const creds = sts.issued.at(-1);
    expect(creds?.action).toBe('AssumeRoleWithWebIdentity');
    expect(sts.requests.at(-1)).toMatchObject({ action: 'AssumeRoleWithWebIdentity', roleArn: HUB_ROLE, sessionName: 'gitlab-42-1001-2002', durationSeconds: 3600 });
    const s3Calls = stack.proxy.requests.slice(mark);
    expect(s3Calls.length).toBeGreaterThan(0);
    for (const c of s3Calls) {
      expect(c.accessKeyId).toBe(creds?.accessKeyId);
      expect(c.securityToken).toBe(creds?.sessionToken);
    }
    expect(r.output).toMatch(/Assumed arn:aws:sts::111111111111:assumed-role\/gitlab-deployer\/gitlab-42-1001-2002 with the job's ID token; credentials expire 20/);
  });

  it('with AWS_ROLE_CHAIN, the second role\'s credentials are the ones S3 sees', async () => {
    const mark = stack.proxy.requests.length;
    const r = await run(['deploy'], oidcEnv(await token(), { AWS_ROLE_CHAIN: TARGET_ROLE }));
    expect(r.code, r.output).toBe(0);
    const [first, second] = sts.issued.slice(-2);
    expect(first?.roleArn).toBe(HUB_ROLE);
    expect(second).toMatchObject({ roleArn: TARGET_ROLE, action: 'AssumeRole' });
    expect(sts.requests.at(-1)).toMatchObject({ action: 'AssumeRole', accessKeyId: first?.accessKeyId, status: 200 });
    const keys = new Set(stack.proxy.requests.slice(mark).map((c) => c.accessKeyId));
    expect([...keys]).toEqual([second?.accessKeyId]);
  });

  it('a chain hop the target role does not trust fails naming both roles', async () => {
    const untrusting = 'arn:aws:iam::333333333333:role/locked';
    sts.roles.push({ arn: untrusting, trustedRoles: [] });
    const r = await run(['deploy'], oidcEnv(await token(), { AWS_ROLE_CHAIN: untrusting }));
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/AssumeRole arn:aws:iam::333333333333:role\/locked from arn:aws:sts::111111111111:assumed-role\/gitlab-deployer\/.* was denied \(AWS_ROLE_CHAIN\)/);
    expect(gw.requests.filter((q) => q.body.git_env === 'never')).toEqual([]);
  });

  it('warns that presigned URLs die with the temporary credentials that signed them', async () => {
    const r = await run(['deploy'], oidcEnv(await token(), { GESTALT_PACKAGE_ACCESS: 'presigned' }));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/WARNING: presigned package URLs stop working when these temporary credentials expire \(20\d\d-/);
    const url = new URL(gw.requests.at(-1)?.body.lambda_url);
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe(sts.issued.at(-1)?.sessionToken);
  });

  it('throttled twice, then admitted', async () => {
    sts.throttle(2);
    const before = stsCalls();
    const r = await run(['deploy'], oidcEnv(await token()));
    expect(r.code, r.output).toBe(0);
    expect(sts.requests.slice(before).map((q) => q.errorCode ?? 'ok')).toEqual(['Throttling', 'Throttling', 'ok']);
    expect(r.output).toMatch(/AssumeRoleWithWebIdentity: Throttling \(transient\); retry 1/);
  });
});

describe('keyless failures: one STS call, the cause, and the condition that would match', () => {
  const failing: [string, () => Promise<string>, RegExp][] = [
    ['wrong audience', () => token({ aud: 'https://not-the-provider.example' }), /audience 'https:\/\/not-the-provider\.example' is not a client ID of the IAM OIDC provider/],
    ['branch not allowed (sub)', () => token({ ref: 'feature-x' }), /trust policy does not admit sub 'project_path:acme\/lambdas:ref_type:branch:ref:feature-x'/],
    ['expired token', () => token({}, { expiresInSeconds: -120 }), /the ID token expired at .*the job waited too long/],
    ['bad signature', () => token({}, { signWith: 'foreign-key' }), /STS rejected the ID token \(.*signature.*\)/i],
  ];
  for (const [name, mint, message] of failing) {
    it(name, async () => {
      const idToken = await mint();
      const before = stsCalls();
      const gwBefore = gw.requests.length;
      const r = await run(['deploy'], oidcEnv(idToken));
      expect(r.code).toBe(1);
      expect(stsCalls() - before).toBe(1);
      expect(r.output).toMatch(message);
      // The diagnosis: decoded claims and the Condition keys named after the issuer host.
      expect(r.output).toMatch(/ID token claims \(decoded, not verified\):/);
      expect(r.output).toContain(`"${sts.issuerHostPath}:sub"`);
      expect(r.output).toContain(`"${sts.issuerHostPath}:aud"`);
      expect(r.output).not.toContain(idToken);
      expect(gw.requests.length).toBe(gwBefore);
    });
  }
});

describe('doctor', () => {
  it('prints the claims and a trust policy that, fed back into STS, admits the job', async () => {
    (sts.roles[0] as { trust?: unknown }).trust = undefined;
    const idToken = await token({ ref: 'release-7' });
    const r = await run(['doctor'], oidcEnv(idToken));
    expect(r.output).toMatch(/sub: project_path:acme\/lambdas:ref_type:branch:ref:release-7/);
    expect(r.output).toMatch(/ref_protected: /);
    expect(r.output).toMatch(/\[FAIL\] AWS credentials: AssumeRoleWithWebIdentity .* was denied/);
    expect(r.code).toBe(1);

    const lines = r.output.split('\n');
    const start = lines.findIndex((l) => l.includes('Trust policy for')) + 1;
    const end = lines.findIndex((l, i) => i > start && l === '    }');
    const policy = JSON.parse(lines.slice(start, end + 1).join('\n'));
    expect(policy.Statement[0].Condition.StringEquals[`${sts.issuerHostPath}:sub`]).toBe('project_path:acme/lambdas:ref_type:branch:ref:release-7');
    (sts.roles[0] as { trust?: unknown }).trust = policy;

    const ok = await run(['doctor'], oidcEnv(idToken));
    expect(ok.code, ok.output).toBe(0);
    expect(ok.output).toMatch(/\[ ok \] AWS credentials: web-identity as arn:aws:sts::111111111111:assumed-role\/gitlab-deployer/);
    expect(ok.output).toMatch(/\[ ok \] S3 bucket s3:\/\/.* reachable/);
    expect(ok.output).toMatch(/\[ ok \] Gestalt: CI_URL answered HTTP/);
    const deployed = await run(['deploy'], oidcEnv(idToken));
    expect(deployed.code, deployed.output).toBe(0);
  });

  it('reports configuration problems and exits 2, and writes nothing', async () => {
    const before = stack.proxy.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD').length;
    const r = await run(['doctor'], oidcEnv(await token(), { LAMBDA_ENVIRONMENT_ID: 'nope', CI_URL: undefined }));
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/\[FAIL\] LAMBDA_ENVIRONMENT_ID: 'nope' is not a UUID/);
    expect(stack.proxy.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD').length).toBe(before);
  });
});
