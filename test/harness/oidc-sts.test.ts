// The OIDC/STS stand-in and the recording proxy, exercised through the real AWS SDK v3 so
// that wire-format mistakes (XML shape, error codes, SigV4) show up as SDK behaviour.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AssumeRoleCommand,
  AssumeRoleWithWebIdentityCommand,
  GetCallerIdentityCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import type { Credentials } from '@aws-sdk/client-sts';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { startOidcSts } from '../support/oidc-sts.js';
import type { OidcSts, RoleSpec } from '../support/oidc-sts.js';
import { startRecordingProxy } from '../support/recording-proxy.js';
import type { RecordingProxy } from '../support/recording-proxy.js';

const DEPLOY = 'arn:aws:iam::111122223333:role/gestalt-deploy';
const PREVIEW = 'arn:aws:iam::111122223333:role/gestalt-preview';
const UPLOADER = 'arn:aws:iam::111122223333:role/path/uploader';
const NO_TRUST = 'arn:aws:iam::111122223333:role/no-trust';
const OTHER_ACCOUNT = 'arn:aws:iam::999988887777:role/elsewhere';
const MAIN_SUB = 'project_path:acme/lambdas:ref_type:branch:ref:main';

interface Observed { name: string; status: number | undefined; attempts: number | undefined; message: string }

// Recorded for the final report: which err.name / status the SDK surfaces per wire code.
const observed = new Map<string, Observed>();

async function sdkFailure(label: string, p: Promise<unknown>): Promise<Observed> {
  try {
    await p;
  } catch (e) {
    const err = e as Error & { $metadata?: { httpStatusCode?: number; attempts?: number } };
    const o = { name: err.name, status: err.$metadata?.httpStatusCode, attempts: err.$metadata?.attempts, message: err.message };
    observed.set(label, o);
    return o;
  }
  throw new Error(`${label}: expected the SDK call to fail, it succeeded`);
}

let sts: OidcSts;
const roles: RoleSpec[] = [
  { arn: DEPLOY, maxSessionDuration: 7200 },
  { arn: PREVIEW },
  { arn: UPLOADER, trustedRoles: [DEPLOY], maxSessionDuration: 7200 },
  { arn: NO_TRUST },
  { arn: OTHER_ACCOUNT },
];

function stsClient(credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): STSClient {
  return new STSClient({ region: 'us-east-1', endpoint: sts.stsUrl, ...(credentials ? { credentials } : {}) });
}

function webIdentity(token: string, roleArn = DEPLOY, extra: { RoleSessionName?: string; DurationSeconds?: number } = {}) {
  return stsClient().send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: 'gitlab-90001', WebIdentityToken: token, ...extra }));
}

function credsOf(c: Credentials | undefined) {
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new Error('response carried no credentials');
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
}

beforeAll(async () => {
  sts = await startOidcSts({ roles, issuerPath: '/gitlab' });
  const byArn = (arn: string) => roles.find((r) => r.arn === arn) as RoleSpec;
  // Trust policies name the issuer, which only exists once the servers listen.
  byArn(DEPLOY).trust = sts.trustPolicyFor(MAIN_SUB);
  byArn(PREVIEW).trust = sts.trustPolicyFor('project_path:acme/lambdas:ref_type:branch:ref:feature/*');
  byArn(OTHER_ACCOUNT).trust = sts.trustPolicyFor(MAIN_SUB); // provider ARN names account 111122223333
});

afterAll(async () => {
  await sts?.close();
  if (observed.size > 0) {
    console.log(['SDK surface per case:', ...[...observed].map(([k, o]) => `  ${k}: name=${o.name} status=${o.status} attempts=${o.attempts} message=${JSON.stringify(o.message)}`)].join('\n'));
  }
});

describe('OIDC issuer', () => {
  it('publishes discovery and a JWKS that verifies minted GitLab-shaped tokens', async () => {
    expect(sts.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/gitlab$/);
    const disc = (await (await fetch(`${sts.issuer}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    expect(disc.issuer).toBe(sts.issuer);
    const token = await sts.mintToken({ ref: 'v1.2.0', ref_type: 'tag' });
    const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(disc.jwks_uri)), { issuer: sts.issuer, audience: sts.issuer });
    expect(protectedHeader.alg).toBe('RS256');
    expect(protectedHeader.kid).toBeTruthy();
    expect(payload).toMatchObject({
      sub: 'project_path:acme/lambdas:ref_type:tag:ref:v1.2.0',
      ref_path: 'refs/tags/v1.2.0',
      project_path: 'acme/lambdas',
      namespace_path: 'acme',
      ref_type: 'tag',
    });
    expect((payload.exp as number) - (payload.iat as number)).toBe(3600);
  });

  it('can leave out kid and claims, and forge with a foreign key that jose rejects', async () => {
    expect(decodeProtectedHeader(await sts.mintToken({}, { omitKid: true })).kid).toBeUndefined();
    expect(decodeJwt(await sts.mintToken({ nbf: undefined }))).not.toHaveProperty('nbf');
    const forged = await sts.mintToken({}, { signWith: 'foreign-key' });
    const disc = (await (await fetch(`${sts.issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
    await expect(jwtVerify(forged, createRemoteJWKSet(new URL(disc.jwks_uri)))).rejects.toThrow(/signature/);
  });
});

describe('STS AssumeRoleWithWebIdentity through @aws-sdk/client-sts', () => {
  it('exchanges a valid token for credentials and records them', async () => {
    const before = sts.issued.length;
    const res = await webIdentity(await sts.mintToken(), DEPLOY, { DurationSeconds: 3600 });
    const c = credsOf(res.Credentials);
    expect(c.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(res.Credentials?.Expiration).toBeInstanceOf(Date);
    expect(Math.abs((res.Credentials?.Expiration as Date).getTime() - (Date.now() + 3600_000))).toBeLessThan(5_000);
    expect(res.AssumedRoleUser?.Arn).toBe('arn:aws:sts::111122223333:assumed-role/gestalt-deploy/gitlab-90001');
    expect(res.AssumedRoleUser?.AssumedRoleId).toMatch(/^AROA[A-Z2-7]{17}:gitlab-90001$/);
    expect(res.SubjectFromWebIdentityToken).toBe(MAIN_SUB);
    expect(res.Audience).toBe(sts.issuer);
    expect(res.Provider).toBe(sts.issuer);
    expect(sts.issued.length).toBe(before + 1);
    expect(sts.issued.at(-1)).toMatchObject({ ...c, roleArn: DEPLOY, action: 'AssumeRoleWithWebIdentity', sessionName: 'gitlab-90001' });
    expect(sts.requests.at(-1)).toMatchObject({ action: 'AssumeRoleWithWebIdentity', roleArn: DEPLOY, sessionName: 'gitlab-90001', durationSeconds: 3600, status: 200 });
    expect(sts.requests.at(-1)?.errorCode).toBeUndefined();
  });

  it('chains AssumeRole with those credentials (SigV4 verified) into the second role', async () => {
    const first = credsOf((await webIdentity(await sts.mintToken())).Credentials);
    const res = await stsClient(first).send(new AssumeRoleCommand({ RoleArn: UPLOADER, RoleSessionName: 'upload' }));
    const second = credsOf(res.Credentials);
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    expect(res.AssumedRoleUser?.Arn).toBe('arn:aws:sts::111122223333:assumed-role/uploader/upload');
    expect(sts.issued.at(-1)).toMatchObject({ accessKeyId: second.accessKeyId, roleArn: UPLOADER, action: 'AssumeRole' });
    expect(sts.requests.at(-1)).toMatchObject({ action: 'AssumeRole', roleArn: UPLOADER, accessKeyId: first.accessKeyId, status: 200 });

    const who = await stsClient(second).send(new GetCallerIdentityCommand({}));
    expect(who.Arn).toBe('arn:aws:sts::111122223333:assumed-role/uploader/upload');
    expect(who.Account).toBe('111122223333');
  });

  it('refuses AssumeRole from a role that is not in trustedRoles, naming both ARNs', async () => {
    const preview = credsOf((await webIdentity(await sts.mintToken({ ref: 'feature/x' }), PREVIEW, { RoleSessionName: 'pv' })).Credentials);
    const o = await sdkFailure('AssumeRole untrusted caller (AccessDenied)', stsClient(preview).send(new AssumeRoleCommand({ RoleArn: UPLOADER, RoleSessionName: 'upload' })));
    expect(o).toMatchObject({ name: 'AccessDenied', status: 403, attempts: 1 });
    expect(o.message).toBe(`User: arn:aws:sts::111122223333:assumed-role/gestalt-preview/pv is not authorized to perform: sts:AssumeRole on resource: ${UPLOADER}`);
  });

  it('answers SignatureDoesNotMatch for AssumeRole signed with a wrong secret', async () => {
    const first = credsOf((await webIdentity(await sts.mintToken())).Credentials);
    const wrong = { ...first, secretAccessKey: `${first.secretAccessKey.slice(0, -1)}${first.secretAccessKey.endsWith('A') ? 'B' : 'A'}` };
    const o = await sdkFailure('AssumeRole wrong secret (SignatureDoesNotMatch)', stsClient(wrong).send(new AssumeRoleCommand({ RoleArn: UPLOADER, RoleSessionName: 'upload' })));
    expect(o).toMatchObject({ name: 'SignatureDoesNotMatch', status: 403 });
    expect(sts.requests.at(-1)).toMatchObject({ action: 'AssumeRole', accessKeyId: first.accessKeyId, status: 403, errorCode: 'SignatureDoesNotMatch' });
  });

  it('answers InvalidClientTokenId for unknown keys and a mismatched session token', async () => {
    const first = credsOf((await webIdentity(await sts.mintToken())).Credentials);
    const unknown = await sdkFailure('AssumeRole unknown access key (InvalidClientTokenId)',
      stsClient({ accessKeyId: 'ASIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x', sessionToken: 'y' }).send(new AssumeRoleCommand({ RoleArn: UPLOADER, RoleSessionName: 'upload' })));
    expect(unknown).toMatchObject({ name: 'InvalidClientTokenId', status: 403 });
    const badToken = await sdkFailure('AssumeRole wrong session token',
      stsClient({ ...first, sessionToken: 'not-the-token' }).send(new AssumeRoleCommand({ RoleArn: UPLOADER, RoleSessionName: 'upload' })));
    expect(badToken).toMatchObject({ name: 'InvalidClientTokenId', status: 403 });
  });

  it('rejects a token for the wrong audience', async () => {
    const o = await sdkFailure('wrong aud (InvalidIdentityToken)', webIdentity(await sts.mintToken({ aud: 'https://someone-else.example' })));
    expect(o).toMatchObject({ name: 'InvalidIdentityTokenException', status: 400, attempts: 1, message: 'Incorrect token audience' });
    expect(sts.requests.at(-1)).toMatchObject({ status: 400, errorCode: 'InvalidIdentityToken' });
  });

  it('denies a branch the trust policy does not allow', async () => {
    const o = await sdkFailure('sub not matching (AccessDenied)', webIdentity(await sts.mintToken({ ref: 'dev' })));
    expect(o).toMatchObject({ name: 'AccessDenied', status: 403, message: 'Not authorized to perform sts:AssumeRoleWithWebIdentity' });
    expect(sts.requests.at(-1)).toMatchObject({ status: 403, errorCode: 'AccessDenied' });
  });

  it('denies a protected-looking tag with the same name as the allowed branch', async () => {
    const o = await sdkFailure('tag instead of branch', webIdentity(await sts.mintToken({ ref: 'main', ref_type: 'tag' })));
    expect(o.name).toBe('AccessDenied');
  });

  it('reports an expired token as ExpiredTokenException', async () => {
    const o = await sdkFailure('expired (ExpiredTokenException)', webIdentity(await sts.mintToken({}, { expiresInSeconds: -60 })));
    expect(o).toMatchObject({ name: 'ExpiredTokenException', status: 400, attempts: 1 });
    expect(o.message).toMatch(/^Token expired: current date\/time \d+ must be before the expiration date\/time \d+$/);
  });

  it('rejects a token signed with a foreign key', async () => {
    const o = await sdkFailure('foreign key (InvalidIdentityToken)', webIdentity(await sts.mintToken({}, { signWith: 'foreign-key' })));
    expect(o).toMatchObject({ name: 'InvalidIdentityTokenException', status: 400, message: 'Token signature is invalid' });
  });

  it('rejects a token from another issuer and a token not yet valid', async () => {
    const iss = await sdkFailure('other issuer', webIdentity(await sts.mintToken({ iss: 'https://gitlab.com' })));
    expect(iss).toMatchObject({ name: 'InvalidIdentityTokenException', message: 'No OpenIDConnect provider found in your account for https://gitlab.com' });
    const nbf = await sdkFailure('nbf in the future', webIdentity(await sts.mintToken({ nbf: Math.floor(Date.now() / 1000) + 600 })));
    expect(nbf.name).toBe('InvalidIdentityTokenException');
    const garbage = await sdkFailure('not a JWT', webIdentity('not-a-jwt-at-all'));
    expect(garbage.name).toBe('InvalidIdentityTokenException');
  });

  it('accepts a token without kid (the key is found by trying the JWKS)', async () => {
    const res = await webIdentity(await sts.mintToken({}, { omitKid: true }));
    expect(res.Credentials?.AccessKeyId).toBeTruthy();
  });

  it('admits through a StringLike wildcard and only what it matches', async () => {
    const policy = roles.find((r) => r.arn === PREVIEW)?.trust?.Statement[0]?.Condition;
    expect(policy?.StringLike).toEqual({ [`${sts.issuerHostPath}:sub`]: 'project_path:acme/lambdas:ref_type:branch:ref:feature/*' });
    const ok = await webIdentity(await sts.mintToken({ ref: 'feature/login/v2' }), PREVIEW);
    expect(ok.AssumedRoleUser?.Arn).toBe('arn:aws:sts::111122223333:assumed-role/gestalt-preview/gitlab-90001');
    expect((await sdkFailure('wildcard miss', webIdentity(await sts.mintToken({ ref: 'main' }), PREVIEW))).name).toBe('AccessDenied');
    expect((await sdkFailure('wildcard other project', webIdentity(await sts.mintToken({ project_path: 'acme/other', ref: 'feature/x' }), PREVIEW))).name).toBe('AccessDenied');
  });

  it('evaluates the trust policy per condition key: lists are OR, keys are AND, ? is one character', async () => {
    const role: RoleSpec = {
      arn: 'arn:aws:iam::111122223333:role/conditions',
      trust: {
        Statement: [{
          Effect: 'Allow',
          Principal: { Federated: `arn:aws:iam::111122223333:oidc-provider/${sts.issuerHostPath}` },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: { [`${sts.issuerHostPath}:aud`]: ['https://gestalt.example', sts.issuer], [`${sts.issuerHostPath}:ref_type`]: 'tag' },
            StringLike: { [`${sts.issuerHostPath}:ref`]: 'v?.*' },
          },
        }],
      },
    };
    roles.push(role);
    try {
      await expect(webIdentity(await sts.mintToken({ ref: 'v1.0', ref_type: 'tag' }), role.arn)).resolves.toBeTruthy();
      await expect(webIdentity(await sts.mintToken({ ref: 'v1.0', ref_type: 'tag', aud: 'https://gestalt.example' }), role.arn)).resolves.toBeTruthy();
      expect((await sdkFailure('AND of keys', webIdentity(await sts.mintToken({ ref: 'v1.0', ref_type: 'branch' }), role.arn))).name).toBe('AccessDenied');
      expect((await sdkFailure('? is one char', webIdentity(await sts.mintToken({ ref: 'v10.0', ref_type: 'tag' }), role.arn))).name).toBe('AccessDenied');
    } finally {
      roles.splice(roles.indexOf(role), 1);
    }
  });

  it('denies when the Federated principal names another account, and for unknown or untrusting roles', async () => {
    const token = await sts.mintToken();
    expect((await sdkFailure('principal in other account', webIdentity(token, OTHER_ACCOUNT))).name).toBe('AccessDenied');
    expect((await sdkFailure('role without trust', webIdentity(token, NO_TRUST))).name).toBe('AccessDenied');
    const unknown = await sdkFailure('unknown role (AccessDenied)', webIdentity(token, 'arn:aws:iam::111122223333:role/does-not-exist'));
    expect(unknown).toMatchObject({ name: 'AccessDenied', status: 403 });
  });

  it('validates RoleArn, RoleSessionName and DurationSeconds like AWS', async () => {
    const token = await sts.mintToken();
    const session = await sdkFailure('session name too short (ValidationError)', webIdentity(token, DEPLOY, { RoleSessionName: 'a' }));
    expect(session).toMatchObject({ name: 'ValidationError', status: 400 });
    expect(session.message).toContain("Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2");
    const pattern = await sdkFailure('session name pattern', webIdentity(token, DEPLOY, { RoleSessionName: 'has space' }));
    expect(pattern.message).toContain('Member must satisfy regular expression pattern: [\\w+=,.@-]*');
    const arn = await sdkFailure('bad arn', webIdentity(token, 'arn:aws:iam::12345:role/x-too-short-acct'));
    expect(arn).toMatchObject({ name: 'ValidationError', message: 'Request ARN is invalid' });
    const short = await sdkFailure('duration < 900', webIdentity(token, DEPLOY, { DurationSeconds: 100 }));
    expect(short.message).toContain('Member must have value greater than or equal to 900');
    const long = await sdkFailure('duration > role max', webIdentity(token, DEPLOY, { DurationSeconds: 7201 }));
    expect(long).toMatchObject({ name: 'ValidationError', message: 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.' });
    await expect(webIdentity(token, DEPLOY, { DurationSeconds: 7200 })).resolves.toBeTruthy();
    const first = credsOf((await webIdentity(token)).Credentials);
    const chained = await sdkFailure('chained duration > 1h', stsClient(first).send(new AssumeRoleCommand({ RoleArn: UPLOADER, RoleSessionName: 'up', DurationSeconds: 7200 })));
    expect(chained.message).toBe('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
  });
});

describe('STS fault injection and SDK retries', () => {
  beforeEach(() => sts.setJwksReachable(true));

  it('throttle(2): the SDK retries Throttling and the third attempt succeeds', async () => {
    const token = await sts.mintToken();
    const start = sts.requests.length;
    sts.throttle(2);
    const res = await webIdentity(token);
    expect(res.Credentials?.AccessKeyId).toBeTruthy();
    expect(res.$metadata.attempts).toBe(3);
    expect(sts.requests.slice(start).map((r) => [r.status, r.errorCode])).toEqual([[400, 'Throttling'], [400, 'Throttling'], [200, undefined]]);
  });

  it('throttle(3) exhausts the 3 attempts and surfaces Throttling', async () => {
    sts.throttle(3);
    const o = await sdkFailure('throttled x3 (Throttling)', webIdentity(await sts.mintToken()));
    expect(o).toMatchObject({ name: 'Throttling', status: 400, attempts: 3, message: 'Rate exceeded' });
  });

  it('retries IDPCommunicationError (retryable in the STS model) and 5xx', async () => {
    const token = await sts.mintToken();
    sts.failNext(1, 'IDPCommunicationError');
    expect((await webIdentity(token)).$metadata.attempts).toBe(2);
    sts.failNext(3, 'IDPCommunicationError');
    const idp = await sdkFailure('IDPCommunicationError x3', webIdentity(token));
    expect(idp).toMatchObject({ name: 'IDPCommunicationErrorException', status: 400, attempts: 3 });
    sts.failNext(3, 'InternalFailure');
    const internal = await sdkFailure('InternalFailure 500 x3', webIdentity(token));
    expect(internal).toMatchObject({ name: 'InternalFailure', status: 500, attempts: 3 });
    sts.failNext(3, 'InternalFailure', 503);
    const unavailable = await sdkFailure('InternalFailure 503 x3', webIdentity(token));
    expect(unavailable).toMatchObject({ status: 503, attempts: 3 });
  });

  it("does not retry InvalidIdentityToken 'Couldn't retrieve verification key', injected or real", async () => {
    const token = await sts.mintToken();
    sts.failNext(1, 'InvalidIdentityToken-jwks');
    const injected = await sdkFailure('InvalidIdentityToken-jwks injected', webIdentity(token));
    expect(injected).toMatchObject({ name: 'InvalidIdentityTokenException', status: 400, attempts: 1 });
    expect(injected.message).toMatch(/^Couldn't retrieve verification key from your identity provider/);

    sts.setJwksReachable(false);
    const real = await sdkFailure('JWKS unreachable', webIdentity(token));
    expect(real).toMatchObject({ name: 'InvalidIdentityTokenException', attempts: 1, message: injected.message });
    sts.setJwksReachable(true);
    await expect(webIdentity(token)).resolves.toBeTruthy();
  });
});

describe('raw STS wire format', () => {
  it('answers query-protocol XML with the Result wrapper and ErrorResponse', async () => {
    const token = await sts.mintToken();
    const body = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: DEPLOY, RoleSessionName: 'raw', WebIdentityToken: token });
    const ok = await fetch(sts.stsUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/xml');
    const xml = await ok.text();
    expect(xml).toMatch(/^<AssumeRoleWithWebIdentityResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA/);
    expect(xml).toMatch(/<Expiration>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ<\/Expiration>/);
    expect(xml).toMatch(/<ResponseMetadata><RequestId>[0-9a-f-]{36}<\/RequestId><\/ResponseMetadata><\/AssumeRoleWithWebIdentityResponse>$/);

    body.set('Version', '2010-01-01');
    const bad = await fetch(sts.stsUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/^<ErrorResponse xmlns="[^"]+"><Error><Type>Sender<\/Type><Code>InvalidAction<\/Code><Message>[^<]+<\/Message><\/Error><RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>$/);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

describe('recording proxy in front of moto_server', () => {
  let moto: ChildProcess | undefined;
  let motoUrl = '';
  let proxy: RecordingProxy;
  let motoLog = '';

  beforeAll(async () => {
    const port = await freePort();
    motoUrl = `http://127.0.0.1:${port}`;
    moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    moto.stdout?.on('data', (d: Buffer) => { motoLog += d.toString(); });
    moto.stderr?.on('data', (d: Buffer) => { motoLog += d.toString(); });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (moto.exitCode !== null) throw new Error(`moto_server exited early:\n${motoLog}`);
      try {
        const r = await fetch(`${motoUrl}/moto-api/`, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`moto_server did not answer within 15 s:\n${motoLog}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    proxy = await startRecordingProxy(motoUrl);
  });

  afterAll(async () => {
    await proxy?.close();
    if (moto && moto.exitCode === null) {
      const exited = new Promise((r) => moto?.once('exit', r));
      moto.kill('SIGTERM');
      await exited;
    }
  });

  it('records the stand-in access key on S3 uploads (SDK defaults, stream, 100-continue) and presigned GETs', async () => {
    const res = await webIdentity(await sts.mintToken());
    const creds = credsOf(res.Credentials);
    const s3 = new S3Client({ region: 'us-east-1', endpoint: proxy.url, forcePathStyle: true, credentials: creds });
    await s3.send(new CreateBucketCommand({ Bucket: 'gestalt-packages' }));

    await s3.send(new PutObjectCommand({ Bucket: 'gestalt-packages', Key: 'fn/abc.zip', Body: Buffer.from('zip-bytes') }));
    // A stream body goes out as aws-chunked with a CRC32 trailer on SDK defaults.
    const streamed = Buffer.alloc(256 * 1024, 7);
    await s3.send(new PutObjectCommand({ Bucket: 'gestalt-packages', Key: 'fn/stream.zip', Body: Readable.from([streamed.subarray(0, 100_000), streamed.subarray(100_000)]), ContentLength: streamed.length }));
    // Large enough for the SDK to send Expect: 100-continue.
    const big = Buffer.alloc(3 * 1024 * 1024, 1);
    await s3.send(new PutObjectCommand({ Bucket: 'gestalt-packages', Key: 'fn/big.zip', Body: big }));

    const got = await s3.send(new GetObjectCommand({ Bucket: 'gestalt-packages', Key: 'fn/stream.zip' }));
    expect(Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).equals(streamed)).toBe(true);
    const gotBig = await s3.send(new GetObjectCommand({ Bucket: 'gestalt-packages', Key: 'fn/big.zip' }));
    expect((await (gotBig.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).length).toBe(big.length);

    for (const key of ['fn/abc.zip', 'fn/stream.zip', 'fn/big.zip']) {
      const put = proxy.requests.find((r) => r.method === 'PUT' && r.path === `/gestalt-packages/${key}`);
      expect(put, key).toMatchObject({ accessKeyId: creds.accessKeyId, securityToken: creds.sessionToken, status: 200 });
    }
    expect(sts.issued.some((c) => c.accessKeyId === creds.accessKeyId)).toBe(true);

    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'gestalt-packages', Key: 'fn/abc.zip' }), { expiresIn: 300 });
    const presigned = await fetch(url);
    expect(presigned.status).toBe(200);
    expect(await presigned.text()).toBe('zip-bytes');
    const recorded = proxy.requests.at(-1);
    expect(recorded).toMatchObject({ method: 'GET', path: '/gestalt-packages/fn/abc.zip', accessKeyId: creds.accessKeyId, securityToken: creds.sessionToken, status: 200 });
    expect(recorded?.query).toContain('X-Amz-Signature=');
  });

  it('keeps Host unchanged, so a SigV4 check at the target still passes (proxy in front of the STS stand-in)', async () => {
    // moto without auth would accept a rewritten Host; the stand-in's SigV4 verifier would not.
    const creds = credsOf((await webIdentity(await sts.mintToken())).Credentials);
    const viaProxy = await startRecordingProxy(sts.stsUrl);
    try {
      const client = new STSClient({ region: 'us-east-1', endpoint: viaProxy.url, credentials: creds });
      const who = await client.send(new GetCallerIdentityCommand({}));
      expect(who.Arn).toBe('arn:aws:sts::111122223333:assumed-role/gestalt-deploy/gitlab-90001');
      expect(viaProxy.requests).toMatchObject([{ method: 'POST', path: '/', accessKeyId: creds.accessKeyId, securityToken: creds.sessionToken, status: 200 }]);
    } finally {
      await viaProxy.close();
    }
  });

  it('passes error statuses through and answers 502 when the target is gone', async () => {
    const s3 = new S3Client({ region: 'us-east-1', endpoint: proxy.url, forcePathStyle: true, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' } });
    const o = await sdkFailure('S3 NoSuchKey via proxy', s3.send(new GetObjectCommand({ Bucket: 'gestalt-packages', Key: 'missing' })));
    expect(o).toMatchObject({ name: 'NoSuchKey', status: 404 });
    expect(proxy.requests.at(-1)).toMatchObject({ method: 'GET', accessKeyId: 'AKIDEXAMPLE', status: 404 });
    expect(proxy.requests.at(-1)?.securityToken).toBeUndefined();

    const dead = await startRecordingProxy(`http://127.0.0.1:${await freePort()}`);
    try {
      const r = await fetch(`${dead.url}/x`);
      expect(r.status).toBe(502);
      expect(dead.requests).toMatchObject([{ method: 'GET', path: '/x', status: 502 }]);
    } finally {
      await dead.close();
    }
  });
});
