// A content address must never hold other bytes. Packages are rewritten on disk after the runner hashed them
// (before the upload, and in the middle of a multipart upload), and bytes are changed on the way to S3; after
// every run each object under packages/<sha256>/ is downloaded and hashed, and must hash to its key.
//
// moto does not verify upload checksums, so S3's refusal is played by test/support/checksum-proxy.ts in front of
// it, which answers BadDigest as S3 does. What this proves: the runner sends, for every PUT of package bytes, the
// SHA-256 taken when the package was hashed (whole object, or per part), and a store that checks it refuses
// changed bytes; and the runner's own re-check, made while each piece is sent, withholds a rewritten piece's last
// bytes so its PUT never completes, which is what protects stores that do not check.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { IncomingMessage } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_ONLY_MAX_BYTES } from '../../src/storage/packages.js';
import { startChecksumProxy, type ChecksumProxy, type ChecksumProxyOptions } from '../support/checksum-proxy.js';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { makeProject, runCli, type CliResult } from '../support/run-cli.js';
import { chosenS3Kind } from '../support/s3-server.js';
import { LAMBDA_VARS, freshBucket, s3Env, startS3Stack, type S3Stack } from './setup.js';

const MIB = 1024 * 1024;
const PART = 8 * MIB;
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const b64 = (b: Buffer) => createHash('sha256').update(b).digest('base64');

let stack: S3Stack;
let gw: GatewayFake;
let proxy: ChecksumProxy | undefined;

beforeAll(async () => {
  stack = await startS3Stack();
  gw = await startGatewayFake();
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});
afterAll(async () => {
  await gw.close();
  await stack.close();
});

async function setup(size: number, opts: ChecksumProxyOptions = {}) {
  const content = randomBytes(size);
  const dir = await makeProject({ 'dist/fn.zip': content });
  const bucket = await freshBucket(stack);
  proxy = await startChecksumProxy(stack.s3.endpoint, opts);
  const env = s3Env(stack, bucket, { CI_PROJECT_DIR: dir, CI_URL: gw.url, ...LAMBDA_VARS, LAMBDA_ARTIFACTS: 'dist/fn.zip', AWS_ENDPOINT_URL_S3: proxy.url });
  return { content, dir, bucket, env, file: join(dir, 'dist/fn.zip') };
}

const deploy = (env: Record<string, string>, dir: string): Promise<CliResult> => runCli(['deploy'], { env, cwd: dir, timeoutMs: 120_000 });

/** Downloads every package object and checks it hashes to its key; no multipart upload may be left open. */
async function auditBucket(bucket: string): Promise<string[]> {
  const keys = await stack.s3.listKeys(bucket, 'acme/lambdas/packages/');
  for (const key of keys) {
    const bytes = await stack.s3.getObject(bucket, key);
    expect(bytes, key).toBeDefined();
    expect(hex(bytes as Buffer), `bytes stored under ${key}`).toBe(key.split('/')[3]);
  }
  const open = await stack.s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  expect(open.Uploads ?? []).toEqual([]);
  process.stdout.write(`[checksums] bucket audit: ${keys.length} package object(s), each hashes to its key; no multipart upload left open\n`);
  return keys;
}

/** Rewrites the package in place with other bytes of the same length, from `offset` on. */
async function rewrite(file: string, offset = 0): Promise<void> {
  const bytes = await readFile(file);
  randomBytes(bytes.length - offset).copy(bytes, offset);
  await writeFile(file, bytes);
}

/** Runs `action` at the first matching request; every later request waits for it too, so none overtakes it. */
const onceWhen = (test: (req: IncomingMessage) => boolean, action: () => Promise<void>) => {
  let running: Promise<void> | undefined;
  return async (req: IncomingMessage) => {
    if (!running && test(req)) running = action();
    await running;
  };
};
const isPackage = (req: IncomingMessage) => /\/packages\//.test(req.url ?? '');

describe.runIf(chosenS3Kind() === 'moto')('checksummed uploads (moto behind a verifying proxy)', () => {
  it('says what moto itself does not do: it stores a PUT whose SHA-256 checksum does not match', async () => {
    const bucket = await freshBucket(stack);
    const body = Buffer.from('the bytes that were sent');
    await stack.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: body, ChecksumAlgorithm: 'SHA256', ChecksumSHA256: b64(Buffer.from('other bytes')) }));
    // Read back without the SDK's answer validation, which would reject the wrong checksum moto now serves.
    const reader = new S3Client({ endpoint: stack.s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, responseChecksumValidation: 'WHEN_REQUIRED' });
    const got = await reader.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    reader.destroy();
    process.stdout.write('[checksums] moto does NOT verify upload checksums (it just stored a PUT with a wrong x-amz-checksum-sha256); these tests put a proxy in front of it that recomputes SHA-256 and answers BadDigest, as S3 does\n');
  });

  it.each([
    ['a single PUT', 4096],
    ['a multipart upload', 2 * PART + 12345],
  ])('every PUT of %s carries the SHA-256 the key was computed from, and S3 keeps it', async (_what, size) => {
    const { content, dir, bucket, env } = await setup(size);
    const r = await deploy(env, dir);
    expect(r.code, r.output).toBe(0);
    const key = `acme/lambdas/packages/${hex(content)}/fn.zip`;
    const puts = proxy!.puts.filter((p) => p.path.endsWith(`/${key}`));
    if (size <= PART) {
      expect(puts.map((p) => p.claimed)).toEqual([b64(content)]);
    } else {
      const parts = [0, 1, 2].map((i) => b64(content.subarray(i * PART, (i + 1) * PART)));
      expect(puts.map((p) => [p.partNumber, p.claimed]).sort()).toEqual(parts.map((c, i) => [i + 1, c]));
      expect(proxy!.requests.some((q) => q.startsWith('POST') && q.includes('uploads'))).toBe(true);
    }
    expect(puts.every((p) => p.verdict === 'forwarded' && !p.chunked)).toBe(true);
    const head = await stack.s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    expect(head.ChecksumSHA256, 'the store kept a SHA-256 checksum').toBeTruthy();
    expect(await auditBucket(bucket)).toEqual([key]);

    // The second deploy finds the checksum and uploads nothing.
    const packagePuts = () => proxy!.puts.filter((p) => p.path.includes('/packages/')).length;
    const before = packagePuts();
    const again = await deploy(env, dir);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toMatch(/unchanged dist\/fn\.zip/);
    expect(packagePuts()).toBe(before);
  });

  it.each([
    // Above CREATE_ONLY_MAX_BYTES, so a HEAD comes first (a smaller new package is sent create-only at once, and
    // the piece check is the same: test/unit/piece-body.test.ts).
    ['before a single PUT', CREATE_ONLY_MAX_BYTES + 4096, 'HEAD', 0],
    ['before a multipart upload', 2 * PART + 999, 'HEAD', PART + 1],
    // The last part is read only once a worker's part got its answer, and any answer comes after the rewrite.
    ['during a multipart upload, once parts are being sent', 4 * PART + 1, 'UploadPart', 4 * PART],
  ])('a package rewritten after hashing, %s, is never stored under its old key', async (_when, size, trigger, offset) => {
    let file = '';
    const { content, dir, bucket, env, file: path } = await setup(size, {
      onRequest: onceWhen(
        (req) => isPackage(req) && (trigger === 'HEAD' ? req.method === 'HEAD' : req.method === 'PUT' && /partNumber=\d+/.test(req.url ?? '')),
        () => rewrite(file, offset),
      ),
    });
    file = path;
    const r = await deploy(env, dir);
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/dist\/fn\.zip changed after it was hashed/);
    expect(r.output).toMatch(/nothing was stored under acme\/lambdas\/packages\/[0-9a-f]{64}\/fn\.zip/);
    expect(r.files.json.functions[0]).toMatchObject({ action: 'failed', sha256: hex(content) });
    // The runner's own check stopped it: no PUT of changed bytes was completed for S3 to refuse.
    expect(proxy!.puts.filter((p) => p.verdict === 'BadDigest')).toEqual([]);
    expect(await auditBucket(bucket)).toEqual([]);
    expect(gw.requests.filter((q) => q.body?.lambda_url?.includes(bucket))).toEqual([]);

    // The next deploy hashes what is there now and stores it under its own key.
    const next = await deploy(env, dir);
    expect(next.code, next.output).toBe(0);
    const now = await readFile(path);
    expect(await auditBucket(bucket)).toEqual([`acme/lambdas/packages/${hex(now)}/fn.zip`]);
  });

  it.each([
    ['a single PUT', 4096],
    ['a multipart upload (part 2 of 3)', 2 * PART + 777],
  ])('bytes changed on the way to S3 in %s are refused (BadDigest) and nothing is stored', async (_what, size) => {
    const { dir, bucket, env } = await setup(size, {
      corrupt: (req, body) => {
        if (!isPackage(req) || (size > PART && !/partNumber=2\b/.test(req.url ?? ''))) return undefined;
        const copy = Buffer.from(body);
        const middle = copy.length >> 1;
        copy.writeUInt8(copy.readUInt8(middle) ^ 0xff, middle);
        return copy;
      },
    });
    const r = await deploy(env, dir);
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/S3 refused the bytes \(BadDigest\)/);
    expect(proxy!.puts.filter((p) => p.verdict === 'BadDigest')).toHaveLength(1);
    expect(await auditBucket(bucket)).toEqual([]);
  });

  it('an object under the key with other bytes and a claiming metadata (as the old runner could leave) is replaced, not trusted', async () => {
    const { content, dir, bucket, env } = await setup(4096);
    const key = `acme/lambdas/packages/${hex(content)}/fn.zip`;
    // Same size, other bytes, metadata claiming the key's hash, and the SDK's default CRC32 checksum.
    const poisoned = randomBytes(content.length);
    await stack.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: poisoned, Metadata: { sha256: hex(content) }, ChecksumAlgorithm: 'CRC32' }));
    const r = await deploy(env, dir);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/uploaded dist\/fn\.zip/);
    expect(r.output).not.toMatch(/unchanged dist\/fn\.zip/);
    expect(await auditBucket(bucket)).toEqual([key]);
  });
});
