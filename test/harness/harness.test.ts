// The integration tests trust these stand-ins; a stand-in that silently agrees with anything would make every
// integration test pass for the wrong reason, so the harness gets tests of its own.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFake } from '../support/gateway-fake.js';
import type { GatewayFake } from '../support/gateway-fake.js';
import { assertNoSecrets, CLI_PATH, jobEnv, makeProject, runCli } from '../support/run-cli.js';
import { chosenS3Kind, motoAvailable, startS3 } from '../support/s3-server.js';
import type { S3Kind, S3Server } from '../support/s3-server.js';

const forced = process.env.GESTALT_TEST_S3 as S3Kind | undefined;
const kinds: S3Kind[] = forced ? [forced] : motoAvailable() ? ['moto', 'fauxqs'] : ['fauxqs'];

describe.each(kinds)('startS3 (%s)', (kind) => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3({ prefer: kind });
  });
  afterAll(async () => {
    await s3?.close();
  });

  it('runs the requested stand-in on loopback', () => {
    expect(s3.kind).toBe(kind);
    expect(chosenS3Kind(kind)).toBe(kind);
    expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s3.region).toBe('us-east-1');
  });

  it('stores what the SDK puts, with its defaults (stream checksums) and metadata', async () => {
    await s3.createBucket('harness');
    const body = Buffer.from('zip bytes \u00e9\n'.repeat(100));
    await s3.client.send(
      new PutObjectCommand({ Bucket: 'harness', Key: 'acme/lambdas/packages/abc/hello.zip', Body: body, Metadata: { sha256: 'abc' } }),
    );
    // A stream body makes the SDK send aws-chunked framing with a CRC32 trailer: the object must not keep it.
    const streamed = Buffer.from('{"functions":[]}');
    await s3.client.send(
      new PutObjectCommand({
        Bucket: 'harness',
        Key: 'acme/lambdas/deployments/review.json',
        Body: Readable.from([streamed]),
        ContentLength: streamed.length,
      }),
    );
    await s3.client.send(new PutObjectCommand({ Bucket: 'harness', Key: 'other/x', Body: 'x' }));

    expect(await s3.listKeys('harness')).toEqual([
      'acme/lambdas/deployments/review.json',
      'acme/lambdas/packages/abc/hello.zip',
      'other/x',
    ]);
    expect(await s3.listKeys('harness', 'acme/lambdas/packages/')).toEqual(['acme/lambdas/packages/abc/hello.zip']);
    expect((await s3.getObject('harness', 'acme/lambdas/packages/abc/hello.zip'))?.equals(body)).toBe(true);
    expect(await s3.headObject('harness', 'acme/lambdas/packages/abc/hello.zip')).toEqual({
      size: body.length,
      metadata: { sha256: 'abc' },
    });
    expect((await s3.getObject('harness', 'acme/lambdas/deployments/review.json'))?.toString()).toBe('{"functions":[]}');
    expect(await s3.getObject('harness', 'missing')).toBeUndefined();
    expect(await s3.headObject('harness', 'missing')).toBeUndefined();
  });

  it('paginates listKeys past one page', async () => {
    await s3.createBucket('many');
    const keys = Array.from({ length: 1005 }, (_, i) => `k/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(
        keys.slice(i, i + 100).map((Key) => s3.client.send(new PutObjectCommand({ Bucket: 'many', Key, Body: 'x' }))),
      );
    }
    expect(await s3.listKeys('many')).toEqual(keys);
  });

  it.runIf(kind === 'moto')('moto resetAuth turns IAM auth on, and reset() restores the startup setting', async () => {
    await s3.createBucket('auth');
    await s3.resetAuth?.(1);
    expect(await s3.listKeys('auth')).toEqual([]);
    await expect(s3.listKeys('auth')).rejects.toThrow(/InvalidAccessKeyId|not exist in our records/);
    await s3.reset();
    await s3.createBucket('auth');
    expect(await s3.listKeys('auth')).toEqual([]);
    expect(await s3.listKeys('auth')).toEqual([]);
  });

  it('reset removes buckets and objects', async () => {
    await s3.createBucket('doomed');
    await s3.client.send(new PutObjectCommand({ Bucket: 'doomed', Key: 'a', Body: 'a' }));
    await s3.reset();
    await expect(s3.listKeys('doomed')).rejects.toThrow();
    await s3.createBucket('doomed');
    expect(await s3.listKeys('doomed')).toEqual([]);
  });
});

describe('startS3 close', () => {
  it.each(kinds)('%s stops answering after close', async (kind) => {
    const s3 = await startS3({ prefer: kind });
    const endpoint = s3.endpoint;
    await s3.close();
    await expect(fetch(endpoint, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
  });
});

// --------------------------------------------------------------------------------------------- gateway

const payload = (over: Record<string, unknown> = {}) => ({
  file: 'hello.zip',
  runtime: 'nodejs',
  api: 'dev1',
  env_id: 'e7b3ca8b-5b9a-4a51-8309-3ced4718e41f',
  project: 'lambdas',
  project_path: 'acme/lambdas',
  git_env: 'review/main',
  lambda_url: 'https://s3.amazonaws.com/bucket/acme/lambdas/packages/abc/hello.zip',
  git_ref: 'main',
  git_sha: '3f786850e387550fdab836ed7e6dc881de23001b',
  ...over,
});

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

describe('gateway fake', () => {
  let gw: GatewayFake;
  beforeAll(async () => {
    gw = await startGatewayFake();
  });
  afterAll(async () => {
    await gw?.close();
  });
  afterEach(() => {
    gw.knownApis = new Set(['dev1']);
    gw.knownEnvs = null;
    gw.setDelay(0);
  });

  it('listens on loopback at /deploy', () => {
    expect(gw.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/deploy$/);
  });

  it('creates, then patches, a lambda named project/ref/file', async () => {
    const first = await post(gw.url, payload());
    expect(first.status).toBe(200);
    expect(JSON.parse(first.text)).toEqual({
      lambda: 'lambda created',
      api_endpoint: 'created',
      external_url: 'https://gw.example.test/dev1/lambdas/main/hello.zip',
    });
    const second = await post(gw.url, payload({ lambda_url: 'https://s3/new.zip' }));
    expect(JSON.parse(second.text)).toEqual({
      lambda: 'lambda patched',
      api_endpoint: 'already existed',
      external_url: 'https://gw.example.test/dev1/lambdas/main/hello.zip',
    });
    expect(gw.lambdas().get('lambdas/main/hello.zip')?.lambda_url).toBe('https://s3/new.zip');
    const last = gw.requests.at(-1);
    expect(last?.method).toBe('POST');
    expect(last?.body.file).toBe('hello.zip');
    expect(last?.status).toBe(200);
  });

  it('answers an unknown API with status 200 and a plain-text ERROR log', async () => {
    const r = await post(gw.url, payload({ api: 'nope' }));
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain/);
    expect(r.text).toContain('[init] found meta: ');
    expect(r.text).toContain('ERROR: could not find target API\r\n');
    expect(() => JSON.parse(r.text)).toThrow();
  });

  it('answers an unknown environment like the original when envs are restricted', async () => {
    gw.knownEnvs = new Set(['only-this']);
    const r = await post(gw.url, payload());
    expect(r.status).toBe(200);
    expect(r.text).toContain('ERROR: could not find target environment');
  });

  it('rejects a payload missing a field instead of inventing a lambda', async () => {
    const { git_sha: _dropped, ...rest } = payload();
    const r = await post(gw.url, rest);
    expect(r.status).toBe(500);
    expect(r.text).toContain('git_sha');
  });

  it('stops a lambda it knows, and answers {} for one it does not', async () => {
    await post(gw.url, payload({ file: 'bye.zip' }));
    const stop = await post(gw.url, { ...payload({ file: 'bye.zip' }), action: 'stop' });
    expect(JSON.parse(stop.text)).toEqual({ lambda_name: 'lambdas/main/bye.zip', endpoints: ['lambdas/main/bye.zip'] });
    expect(gw.lambdas().has('lambdas/main/bye.zip')).toBe(false);
    const again = await post(gw.url, { ...payload({ file: 'bye.zip' }), action: 'stop' });
    expect(again.status).toBe(200);
    expect(JSON.parse(again.text)).toEqual({});
  });

  it('failNext answers the given status, then a reset, then recovers', async () => {
    gw.failNext(1, { status: 503, body: 'upstream unavailable' });
    gw.failNext(1, { reset: true });
    const r = await post(gw.url, payload());
    expect(r.status).toBe(503);
    expect(r.text).toBe('upstream unavailable');
    await expect(post(gw.url, payload())).rejects.toThrow();
    expect(gw.requests.at(-1)?.status).toBe(0);
    expect((await post(gw.url, payload())).status).toBe(200);
  });

  it('failNext with a body and no status answers 200 text like the original', async () => {
    gw.failNext(1, { body: 'ERROR: error creating lambda: response code 409\r\n' });
    const r = await post(gw.url, payload());
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain/);
    expect(r.text).toContain('ERROR: error creating lambda');
  });

  it('failFor always answers that body for that file only', async () => {
    gw.failFor('broken.zip', 'ERROR: nope\r\n');
    for (let i = 0; i < 2; i++) {
      const r = await post(gw.url, payload({ file: 'broken.zip' }));
      expect(r.status).toBe(200);
      expect(r.text).toBe('ERROR: nope\r\n');
    }
    expect((await post(gw.url, payload({ file: 'fine.zip' }))).text).toContain('lambda created');
  });

  it('tracks the maximum number of requests in flight', async () => {
    const fresh = await startGatewayFake({ gatewayUrl: 'https://other.test/' });
    try {
      fresh.setDelay(150);
      await Promise.all([1, 2, 3].map((i) => post(fresh.url, payload({ file: `f${i}.zip` }))));
      expect(fresh.maxInFlight).toBe(3);
      expect(fresh.inFlight).toBe(0);
      const r = await post(fresh.url, payload({ file: 'url.zip' }));
      expect(JSON.parse(r.text).external_url).toBe('https://other.test/dev1/lambdas/main/url.zip');
    } finally {
      await fresh.close();
    }
  });

  it('requireAuth answers 401 JSON without or with wrong Basic auth, and records the credentials', async () => {
    const authed = await startGatewayFake();
    try {
      authed.requireAuth('key-1', 'secret-1');
      const basic = (k: string, s: string) => ({ authorization: `Basic ${Buffer.from(`${k}:${s}`).toString('base64')}` });
      const none = await post(authed.url, payload());
      expect(none.status).toBe(401);
      expect(JSON.parse(none.text)).toEqual({ code: 401, message: 'Authentication required' });
      expect((await post(authed.url, payload(), basic('key-1', 'wrong'))).status).toBe(401);
      const ok = await post(authed.url, payload(), basic('key-1', 'secret-1'));
      expect(ok.status).toBe(200);
      expect(authed.requests.at(-1)?.authorization).toEqual({ key: 'key-1', secret: 'secret-1' });
      expect(authed.lambdas().size).toBe(1);
    } finally {
      await authed.close();
    }
  });
});

// ------------------------------------------------------------------------------------------------- CLI

describe('assertNoSecrets', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

  it('throws on a leak, naming the secret without revealing it', () => {
    let message = '';
    try {
      assertNoSecrets(['clean', `aws said: key=${secret} denied`], ['short', secret]);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('secret #1');
    expect(message).toContain('wJal');
    expect(message).toContain('haystack #1');
    expect(message).not.toContain(secret);
    expect(message).not.toContain(secret.slice(0, 8));
  });

  it('catches the URL-encoded form too', () => {
    expect(() => assertNoSecrets([`?sig=${encodeURIComponent(secret)}`], [secret])).toThrow(/URL-encoded/);
  });

  it('catches any 8-character piece of a secret, raw or URL-encoded, and masks it in the message', () => {
    const cut = `token: ${secret.slice(0, 8)}`;
    expect(() => assertNoSecrets([cut], [secret])).toThrow(/secret #0 \(wJal…, 40 chars\): 8 characters of it appears/);
    const middle = `…${secret.slice(10, 24)}…`;
    expect(() => assertNoSecrets([middle], [secret])).toThrow(/14 characters of it/);
    const encodedPiece = encodeURIComponent(secret).slice(12, 24);
    expect(secret).not.toContain(encodedPiece);
    expect(() => assertNoSecrets([`x=${encodedPiece}`], [secret])).toThrow(/characters of it \(URL-encoded\)/);
    let message = '';
    try {
      assertNoSecrets([`${cut} and ${middle}`], [secret]);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).not.toContain(secret.slice(0, 8));
    expect(message).not.toContain(secret.slice(10, 18));
    // Seven characters are not a leak by this rule (a shorter run occurs by chance in ordinary text).
    expect(() => assertNoSecrets([secret.slice(0, 7)], [secret])).not.toThrow();
  });

  it('passes clean output and ignores empty or short secrets', () => {
    expect(() => assertNoSecrets(['abc test', undefined], [undefined, '', 'test', 'abc'])).not.toThrow();
    expect(() => assertNoSecrets(['nothing here'], [secret])).not.toThrow();
  });
});

describe('jobEnv', () => {
  it('looks like a GitLab job and does not inherit the machine environment', () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'machine-secret-should-not-leak';
    process.env.AWS_PROFILE = 'machine-profile';
    try {
      const env = jobEnv({ CI_COMMIT_REF_SLUG: 'feature-x', CI_JOB_ID: undefined, LAMBDA_API: 'dev1' });
      expect(env.CI).toBe('true');
      expect(env.GITLAB_CI).toBe('true');
      expect(env.CI_PROJECT_PATH).toBe('acme/lambdas');
      expect(env.CI_COMMIT_SHA).toMatch(/^[0-9a-f]{40}$/);
      expect(env.CI_COMMIT_REF_SLUG).toBe('feature-x');
      expect(env.LAMBDA_API).toBe('dev1');
      expect('CI_JOB_ID' in env).toBe(false);
      expect(env.PATH).toBe(process.env.PATH);
      expect(Object.keys(env).filter((k) => k.startsWith('AWS_'))).toEqual([]);
      expect(Object.values(env)).not.toContain('machine-secret-should-not-leak');
    } finally {
      delete process.env.AWS_SECRET_ACCESS_KEY;
      delete process.env.AWS_PROFILE;
    }
  });
});

describe('runCli', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('points CLI_PATH at the bundle', () => {
    expect(CLI_PATH.endsWith('/dist/gestalt-deploy.js')).toBe(true);
  });

  it('runs a script with only the given env in the given cwd and reads the reports it wrote', async () => {
    const dir = await makeProject({
      'fake-cli.mjs': [
        "import { writeFileSync } from 'node:fs';",
        "process.stdout.write(`args=${process.argv.slice(2).join(',')} cwd=${process.cwd()}\\n`);",
        "process.stderr.write(`ref=${process.env.CI_COMMIT_REF_SLUG} aws=${process.env.AWS_SECRET_ACCESS_KEY ?? 'none'}\\n`);",
        "writeFileSync('gestalt-deploy.env', 'GESTALT_ENVIRONMENT_URL=https://x\\n');",
        "writeFileSync('gestalt-deploy.json', JSON.stringify({ functions: [1] }));",
        'process.exit(3);',
      ].join('\n'),
      'nested/dir/pkg.zip': Buffer.from([0, 1, 2]),
    });
    dirs.push(dir);
    // A stale report from an earlier run must not be mistaken for this run's.
    await writeFile(join(dir, 'gestalt-annotations.json'), '{"stale": true}');
    process.env.AWS_SECRET_ACCESS_KEY = 'machine-secret';
    try {
      const r = await runCli(['deploy', '--x'], { env: jobEnv(), cwd: dir, script: join(dir, 'fake-cli.mjs') });
      expect(r.code).toBe(3);
      expect(r.stdout).toContain('args=deploy,--x');
      expect(r.stdout).toContain(`cwd=${dir}`);
      expect(r.stderr).toContain('ref=main aws=none');
      expect(r.output).toContain('args=deploy');
      expect(r.output).toContain('ref=main');
      expect(r.files.env).toBe('GESTALT_ENVIRONMENT_URL=https://x\n');
      expect(r.files.json).toEqual({ functions: [1] });
      expect(r.files.annotations).toBeUndefined();
    } finally {
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });

  it('kills a hung process and fails loudly', async () => {
    const dir = await makeProject({ 'hang.mjs': "console.log('working'); setInterval(() => {}, 1000);" });
    dirs.push(dir);
    await expect(runCli([], { env: jobEnv(), cwd: dir, script: join(dir, 'hang.mjs'), timeoutMs: 1000 })).rejects.toThrow(
      /did not finish within 1000 ms[\s\S]*working/,
    );
  });

  it('refuses to run a missing bundle with a hint', async () => {
    await expect(runCli([], { env: jobEnv(), cwd: '/tmp', script: '/nonexistent/gestalt-deploy.js' })).rejects.toThrow(
      /npm run build/,
    );
  });

  it('makeProject refuses paths outside the project', async () => {
    await expect(makeProject({ '../evil': 'x' })).rejects.toThrow(/escapes/);
  });
});
