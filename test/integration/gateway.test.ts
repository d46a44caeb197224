import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { chosenS3Kind } from '../support/s3-server.js';
import { assertNoSecrets, makeProject, runCli, JOB_COMMIT_SHA, type CliResult } from '../support/run-cli.js';
import { AWS_SECRET, ENV_ID, GF_SECRET, LAMBDA_VARS, freshBucket, projectWithPackages, s3Env, s3Writes, startS3Stack, type S3Stack } from './setup.js';

let stack: S3Stack;
const outputs: CliResult[] = [];
const gateways: GatewayFake[] = [];

beforeAll(async () => {
  stack = await startS3Stack();
});
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await stack.close();
  // Every run in this file: no secret in any log or report.
  const basic = Buffer.from(`gf-key:${GF_SECRET}`).toString('base64');
  assertNoSecrets(outputs.flatMap((o) => [o.output, o.files.env, JSON.stringify(o.files.json ?? {}), JSON.stringify(o.files.annotations ?? {})]), [AWS_SECRET, GF_SECRET, basic]);
});

async function gateway(): Promise<GatewayFake> {
  const g = await startGatewayFake();
  gateways.push(g);
  return g;
}

async function run(args: string[], env: Record<string, string | undefined>, cwd: string): Promise<CliResult> {
  const r = await runCli(args, { env, cwd });
  outputs.push(r);
  return r;
}

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

function gatewayEnv(bucket: string, gw: GatewayFake, dir: string, extra: Record<string, string | undefined> = {}) {
  return s3Env(stack, bucket, {
    CI_PROJECT_DIR: dir,
    CI_URL: gw.url,
    ...LAMBDA_VARS,
    LAMBDA_RUNTIME: 'python',
    ...extra,
  });
}

describe('gateway mode: deploy, redeploy, stop', () => {
  it('deploys 3 packages, skips unchanged ones, uploads only a changed one, and stops without a checkout', async () => {
    const bucket = await freshBucket(stack);
    const gw = await gateway();
    const dir = await projectWithPackages();
    const env = gatewayEnv(bucket, gw, dir);

    const first = await run(['deploy'], env, dir);
    expect(first.code, first.output).toBe(0);

    // Content-addressed keys: <prefix>/packages/<sha256>/<file>.
    const keys = await stack.s3.listKeys(bucket, 'acme/lambdas/packages/');
    const expected = await Promise.all(['hello.zip', 'orders.zip', 'users.zip'].map(async (f) => `acme/lambdas/packages/${await sha256(join(dir, 'dist', f))}/${f}`));
    expect(keys).toEqual(expected.sort());

    // Three POSTs with exactly the original payload shape.
    expect(gw.requests).toHaveLength(3);
    for (const req of gw.requests) {
      expect(Object.keys(req.body).sort()).toEqual(['api', 'env_id', 'file', 'git_env', 'git_ref', 'git_sha', 'lambda_url', 'project', 'project_path', 'runtime']);
      expect(req.body).toMatchObject({ runtime: 'python', api: 'dev1', env_id: ENV_ID, project: 'lambdas', project_path: 'acme/lambdas', git_env: 'review/main', git_ref: 'main', git_sha: JOB_COMMIT_SHA });
      expect(req.body.lambda_url).toBe(`${stack.proxy.url}/${bucket}/acme/lambdas/packages/${await sha256(join(dir, 'dist', req.body.file))}/${req.body.file}`);
      expect(req.headers['content-type']).toMatch(/application\/json/);
    }
    expect([...gw.lambdas().keys()].sort()).toEqual(['lambdas/main/hello.zip', 'lambdas/main/orders.zip', 'lambdas/main/users.zip']);

    // Reports: dotenv URL (first function by name), JSON per function, one annotation link per endpoint.
    expect(first.files.env).toContain('GESTALT_ENVIRONMENT_URL=https://gw.example.test/dev1/lambdas/main/hello.zip\n');
    expect(first.files.json.status).toBe('success');
    expect(first.files.json.functions.map((f: { name: string; action: string; upload: string }) => [f.name, f.action, f.upload])).toEqual([
      ['lambdas/main/hello.zip', 'created', 'uploaded'],
      ['lambdas/main/orders.zip', 'created', 'uploaded'],
      ['lambdas/main/users.zip', 'created', 'uploaded'],
    ]);
    expect(first.files.json.totals.bytesUploaded).toBeGreaterThan(3 * 256);
    expect(first.files.annotations.gestalt_endpoints.map((l: { external_link: { url: string } }) => l.external_link.url)).toHaveLength(3);
    expect(first.output).toContain('section_start:');

    // The record lists what was deployed.
    const record = JSON.parse((await stack.s3.getObject(bucket, 'acme/lambdas/deployments/review/main.json'))?.toString() ?? '{}');
    expect(record.functions.map((f: { name: string }) => f.name)).toEqual(['lambdas/main/hello.zip', 'lambdas/main/orders.zip', 'lambdas/main/users.zip']);
    expect(record).toMatchObject({ mode: 'gateway', api: 'dev1', environmentId: ENV_ID, sha: JOB_COMMIT_SHA, jobUrl: expect.stringContaining('/jobs/') });

    // Unchanged redeploy: 0 bytes, no package PUT.
    const before = stack.proxy.requests.length;
    const second = await run(['deploy'], env, dir);
    expect(second.code, second.output).toBe(0);
    expect(second.files.json.totals.bytesUploaded).toBe(0);
    expect(s3Writes(stack, before).filter((r) => r.path.includes('/packages/'))).toEqual([]);
    expect(second.files.json.functions.every((f: { upload: string }) => f.upload === 'skipped')).toBe(true);

    // One changed package: exactly that one is uploaded.
    await writeFile(join(dir, 'dist/orders.zip'), 'PK-orders-v2');
    const mark = stack.proxy.requests.length;
    const third = await run(['deploy'], env, dir);
    expect(third.code, third.output).toBe(0);
    const puts = s3Writes(stack, mark).filter((r) => r.path.includes('/packages/'));
    expect(puts).toHaveLength(1);
    expect(puts[0]?.path).toContain(`/packages/${await sha256(join(dir, 'dist/orders.zip'))}/orders.zip`);
    expect(third.files.json.totals.bytesUploaded).toBe('PK-orders-v2'.length);
    // The old version stays for rollback.
    expect((await stack.s3.listKeys(bucket, 'acme/lambdas/packages/')).filter((k) => k.endsWith('/orders.zip'))).toHaveLength(2);

    // Stop from an empty directory, with no LAMBDA_* variables: the record is enough.
    const empty = await makeProject({});
    const stopEnv = s3Env(stack, bucket, { CI_URL: gw.url, CI_PROJECT_DIR: empty });
    const posts = gw.requests.length;
    const stop = await run(['stop'], stopEnv, empty);
    expect(stop.code, stop.output).toBe(0);
    const stops = gw.requests.slice(posts);
    expect(stops.map((r) => r.body.file).sort()).toEqual(['hello.zip', 'orders.zip', 'users.zip']);
    for (const r of stops) expect(r.body).toMatchObject({ action: 'stop', api: 'dev1', env_id: ENV_ID, project: 'lambdas', git_ref: 'main', git_env: 'review/main' });
    expect(gw.lambdas().size).toBe(0);
    expect(await stack.s3.listKeys(bucket, 'acme/lambdas/deployments/')).toEqual([]);

    // Stop again: nothing to do, exit 0, no POST.
    const again = await run(['stop'], stopEnv, empty);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toMatch(/Nothing to stop/);
    expect(gw.requests.length).toBe(posts + 3);
  });
});

describe('gateway mode: failures', () => {
  it('fails the job naming the function when the lambda answers HTTP 200 with an ERROR log', async () => {
    const bucket = await freshBucket(stack);
    const gw = await gateway();
    gw.knownApis.clear(); // every deploy now gets 'ERROR: could not find target API'
    const dir = await projectWithPackages(['only.zip']);
    const r = await run(['deploy'], gatewayEnv(bucket, gw, dir), dir);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/only\.zip.*ERROR: could not find target API.*LAMBDA_API/s);
    expect(r.output).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.files.json.status).toBe('failed');
    expect(r.files.json.functions[0].error).toMatch(/could not find target API/);
    expect(r.files.env).toContain('GESTALT_DEPLOY_STATUS=failed');
    // The lambda answered an error, but the original can fail after creating: the record keeps the function as failed.
    const record = JSON.parse((await stack.s3.getObject(bucket, 'acme/lambdas/deployments/review/main.json'))?.toString() ?? '{}');
    expect(record.functions.map((f: { file: string; state: string }) => [f.file, f.state])).toEqual([['only.zip', 'failed']]);
  });

  it('reports per function when one fails and the others deploy, and records each with its state', async () => {
    const bucket = await freshBucket(stack);
    const gw = await gateway();
    gw.failFor('orders.zip', 'ERROR: error creating lambda: response code 400\r\n');
    const dir = await projectWithPackages();
    const r = await run(['deploy'], gatewayEnv(bucket, gw, dir), dir);
    expect(r.code).toBe(1);
    expect(r.files.json.status).toBe('partial');
    const byName = Object.fromEntries(r.files.json.functions.map((f: { name: string }) => [f.name, f]));
    expect(byName['lambdas/main/orders.zip'].error).toMatch(/error creating lambda/);
    expect(byName['lambdas/main/hello.zip'].action).toBe('created');
    const record = JSON.parse((await stack.s3.getObject(bucket, 'acme/lambdas/deployments/review/main.json'))?.toString() ?? '{}');
    expect(record.functions.map((f: { file: string; state: string }) => [f.file, f.state])).toEqual([
      ['hello.zip', 'deployed'],
      ['orders.zip', 'failed'],
      ['users.zip', 'deployed'],
    ]);
  });

  it('retries 503 and connection resets, but not a 401', async () => {
    const bucket = await freshBucket(stack);
    const gw = await gateway();
    gw.failNext(1, { status: 503 });
    gw.failNext(1, { reset: true });
    const dir = await projectWithPackages(['one.zip']);
    const ok = await run(['deploy'], gatewayEnv(bucket, gw, dir, { GESTALT_CONCURRENCY: '1' }), dir);
    expect(ok.code, ok.output).toBe(0);
    expect(gw.requests.map((r) => r.status)).toEqual([503, 0, 200]);

    gw.requireAuth('gf-key', GF_SECRET);
    const before = gw.requests.length;
    const denied = await run(['deploy'], gatewayEnv(bucket, gw, dir, { GF_API_KEY: 'gf-key', GF_API_SECRET: 'wrong-secret' }), dir);
    expect(denied.code).toBe(1);
    expect(denied.output).toMatch(/HTTP 401.*GF_API_KEY\/GF_API_SECRET were refused/);
    expect(gw.requests.length).toBe(before + 1);

    const authed = await run(['deploy'], gatewayEnv(bucket, gw, dir, { GF_API_KEY: 'gf-key', GF_API_SECRET: GF_SECRET, GESTALT_DEBUG: 'true' }), dir);
    expect(authed.code, authed.output).toBe(0);
    expect(gw.requests.at(-1)?.authorization).toEqual({ key: 'gf-key', secret: GF_SECRET });
  });

  it('keeps parallel calls within GESTALT_CONCURRENCY', async () => {
    const bucket = await freshBucket(stack);
    const gw = await gateway();
    gw.setDelay(150);
    const dir = await projectWithPackages(['a.zip', 'b.zip', 'c.zip', 'd.zip', 'e.zip', 'f.zip']);
    const r = await run(['deploy'], gatewayEnv(bucket, gw, dir, { GESTALT_CONCURRENCY: '2' }), dir);
    expect(r.code, r.output).toBe(0);
    expect(gw.maxInFlight).toBe(2);
  });
});

describe('packages in S3', () => {
  it('streams a large package as a multipart upload and stores it intact', async () => {
    const bucket = await freshBucket(stack);
    const gw = await gateway();
    const big = Buffer.alloc(20 * 1024 * 1024 + 123, 7);
    const dir = await makeProject({ 'dist/big.zip': big });
    const mark = stack.proxy.requests.length;
    const r = await run(['deploy'], gatewayEnv(bucket, gw, dir), dir);
    expect(r.code, r.output).toBe(0);
    const writes = s3Writes(stack, mark).filter((w) => w.path.includes('/packages/'));
    expect(writes.some((w) => w.method === 'POST' && w.query.includes('uploads'))).toBe(true);
    expect(writes.filter((w) => w.method === 'PUT' && w.query.includes('partNumber')).length).toBe(3);
    const key = `acme/lambdas/packages/${createHash('sha256').update(big).digest('hex')}/big.zip`;
    expect((await stack.s3.headObject(bucket, key))?.size).toBe(big.length);
    expect((await stack.s3.getObject(bucket, key))?.equals(big)).toBe(true);
  });

  it('presigned: Gestalt gets a working time-limited URL, and its signature appears in no log or report', async () => {
    const bucket = await freshBucket(stack);
    const gw = await gateway();
    const dir = await projectWithPackages(['signed.zip']);
    const r = await run(['deploy'], gatewayEnv(bucket, gw, dir, { GESTALT_PACKAGE_ACCESS: 'presigned', GESTALT_PRESIGN_EXPIRES: '900', GESTALT_DEBUG: 'true' }), dir);
    expect(r.code, r.output).toBe(0);
    const url = new URL(gw.requests[0]?.body.lambda_url);
    const signature = url.searchParams.get('X-Amz-Signature') ?? '';
    expect(signature).toMatch(/^[0-9a-f]{64}$/);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(await readFile(join(dir, 'dist/signed.zip')))).toBe(true);
    assertNoSecrets([r.output, JSON.stringify(r.files.json), r.files.env], [signature]);
  });

  // fauxqs keeps no ACLs; moto stores and returns them like S3.
  it.skipIf(chosenS3Kind() === 'fauxqs')('public: uploads with the public-read ACL, as the original did', async () => {
    const bucket = await freshBucket(stack);
    const gw = await gateway();
    const dir = await projectWithPackages(['pub.zip']);
    const r = await run(['deploy'], gatewayEnv(bucket, gw, dir, { GESTALT_PACKAGE_ACCESS: 'public' }), dir);
    expect(r.code, r.output).toBe(0);
    const key = r.files.json.functions[0].packageKey as string;
    const { GetObjectAclCommand } = await import('@aws-sdk/client-s3');
    const acl = await stack.s3.client.send(new GetObjectAclCommand({ Bucket: bucket, Key: key }));
    expect(acl.Grants?.some((g) => g.Grantee?.URI?.endsWith('/global/AllUsers') && g.Permission === 'READ')).toBe(true);
  });

  it('public on a bucket with ACLs disabled fails with a clear sentence, and nothing is deployed', async () => {
    // moto accepts ACLs even on BucketOwnerEnforced buckets, so this endpoint answers as real S3 does.
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      // The bucket exists (HeadBucket); the package does not yet (HeadObject).
      if (req.method === 'HEAD') return void res.writeHead(/^\/owner-enforced\/?$/.test(req.url ?? '') ? 200 : 404).end();
      if (req.method === 'GET') return void res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
      if (req.method === 'PUT' && req.url?.includes('/deployments/')) return void res.writeHead(200, { etag: '"1"' }).end();
      if (req.method === 'DELETE') return void res.writeHead(204).end();
      if (req.method === 'PUT' && req.headers['x-amz-acl']) {
        res.writeHead(400, { 'content-type': 'application/xml' });
        return void res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessControlListNotSupported</Code><Message>The bucket does not allow ACLs</Message><RequestId>1</RequestId></Error>');
      }
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const gw = await gateway();
      const dir = await projectWithPackages(['pub.zip']);
      const r = await run(['deploy'], gatewayEnv('owner-enforced', gw, dir, { GESTALT_PACKAGE_ACCESS: 'public', AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}` }), dir);
      expect(r.code).toBe(1);
      expect(r.output).toMatch(/S3 PutObject s3:\/\/owner-enforced\/.*pub\.zip failed: the bucket has ACLs disabled .* GESTALT_PACKAGE_ACCESS=public cannot work/);
      expect(gw.requests).toHaveLength(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a missing bucket fails with one sentence naming S3_BUCKET_NAME', async () => {
    const gw = await gateway();
    const dir = await projectWithPackages(['x.zip']);
    const r = await run(['deploy'], gatewayEnv('no-such-bucket-here', gw, dir), dir);
    expect(r.code).toBe(1);
    // Found by the preflight, once, before any upload: not once per function.
    const errors = r.output.split('\n').filter((l) => l.startsWith('ERROR:'));
    expect(errors).toEqual([expect.stringMatching(/S3_BUCKET_NAME 'no-such-bucket-here' names no bucket at http:\/\/127\.0\.0\.1:\d+ \(HeadBucket answered 404\); create the bucket, or fix S3_BUCKET_NAME\./)]);
    expect(gw.requests).toHaveLength(0);
  });
});

describe('plan', () => {
  it('shows upload/skip and create/update without writing anything', async () => {
    const bucket = await freshBucket(stack);
    const gw = await gateway();
    const dir = await projectWithPackages(['a.zip', 'b.zip']);
    const env = gatewayEnv(bucket, gw, dir);
    const first = await run(['plan'], env, dir);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/lambdas\/main\/a\.zip\s+would upload.*create/);
    const planJson = JSON.parse(await readFile(join(dir, 'gestalt-plan.json'), 'utf8'));
    expect(planJson.functions.map((f: { action: string; upload: string }) => [f.action, f.upload])).toEqual([
      ['create', 'would upload'],
      ['create', 'would upload'],
    ]);
    expect(gw.requests).toHaveLength(0);
    expect(await stack.s3.listKeys(bucket)).toEqual([]);

    await run(['deploy'], env, dir);
    await writeFile(join(dir, 'dist/b.zip'), 'changed');
    await rm(join(dir, 'gestalt-plan.json'));
    const mark = stack.proxy.requests.length;
    const second = await run(['plan'], env, dir);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toMatch(/lambdas\/main\/a\.zip\s+would skip\s+update/);
    expect(second.output).toMatch(/lambdas\/main\/b\.zip\s+would upload.*update/);
    expect(s3Writes(stack, mark)).toEqual([]);
    expect(gw.requests).toHaveLength(2);
  });
});
