// The S3 client's payload signing: bodies that carry their SHA-256 checksum go unsigned over HTTPS only; package
// pieces (read while sent) are signed with their hash from hashing time over http, sent without Expect, and
// opened anew when the SDK retries them.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { AwsSettings, Config, StorageSettings } from '../../src/config/types.js';
import { createS3Client } from '../../src/storage/client.js';
import { ChunkPool, PieceBody } from '../../src/storage/piece-body.js';
import { closeServer, listen } from '../support/loopback.js';

const storage = { bucket: 'b', prefix: 'p', forcePathStyle: true, access: 'private', presignSeconds: 60 } as StorageSettings;
const http = { timeoutMs: 5000, retry: { attempts: 1 } } as Config['http'];
const SHA = Buffer.alloc(32, 7).toString('base64');

/** The headers the request would go out with, signed, without sending it. */
const client = (endpoint: string, attempts = 1) =>
  createS3Client({ region: 'us-east-1', s3Endpoint: endpoint } as AwsSettings, storage, { source: 'static', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'unit-secret' } }, { ...http, retry: { ...http.retry, attempts } });

async function signedHeaders(endpoint: string, command: PutObjectCommand | UploadPartCommand): Promise<Record<string, string>> {
  const s3 = client(endpoint);
  let headers: Record<string, string> = {};
  s3.middlewareStack.add(
    () => async (args) => {
      headers = { ...(args.request as { headers: Record<string, string> }).headers };
      throw new Error('captured');
    },
    { step: 'deserialize', name: 'capture' },
  );
  await expect(command instanceof PutObjectCommand ? s3.send(command) : s3.send(command)).rejects.toThrow('captured');
  return headers;
}

const part = () => new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', PartNumber: 1, Body: Buffer.from('bytes'), ChecksumAlgorithm: 'SHA256', ChecksumSHA256: SHA });

describe('S3 payload signing', () => {
  it('a part with ChecksumSHA256 over https is sent as UNSIGNED-PAYLOAD, its checksum header kept', async () => {
    const h = await signedHeaders('https://s3.example.test', part());
    expect(h['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(h['x-amz-checksum-sha256']).toBe(SHA);
    expect(h.authorization).toMatch(/SignedHeaders=.*x-amz-content-sha256/);
  });

  it('over plain http the payload hash stays signed', async () => {
    const h = await signedHeaders('http://127.0.0.1:9', part());
    expect(h['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('over https a body without a SHA-256 checksum (a record write) keeps its signed hash', async () => {
    const h = await signedHeaders('https://s3.example.test', new PutObjectCommand({ Bucket: 'b', Key: 'k.json', Body: '{}' }));
    expect(h['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
  });
});

/** A package piece over a temporary file, as PackageStore hands it to the SDK. */
async function withPiece<T>(content: Buffer, use: (body: PieceBody) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 's3-client-'));
  const path = join(dir, 'p.zip');
  await writeFile(path, content);
  const file = await open(path);
  try {
    const sha256 = createHash('sha256').update(content).digest('hex');
    return await use(new PieceBody({ file, offset: 0, length: content.length, sha256, changed: () => new Error('changed') }, new ChunkPool()));
  } finally {
    await file.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const piecePart = (body: PieceBody, length: number) =>
  new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', PartNumber: 1, Body: body as never, ContentLength: length, ChecksumAlgorithm: 'SHA256', ChecksumSHA256: Buffer.from(body.sha256, 'hex').toString('base64') });

describe('package pieces as request bodies', () => {
  it('over plain http a piece is signed with its SHA-256 from hashing time, and a large one is sent without Expect', async () => {
    const content = randomBytes(3 * 1024 * 1024);
    const h = await withPiece(content, (body) => signedHeaders('http://127.0.0.1:9', piecePart(body, content.length)));
    expect(h['x-amz-content-sha256']).toBe(createHash('sha256').update(content).digest('hex'));
    expect(h.authorization).toMatch(/SignedHeaders=.*x-amz-content-sha256/);
    // Expect: 100-continue would make the SDK's handler open a new connection for every part.
    expect(h.expect ?? h.Expect).toBeUndefined();
  });

  it('over https a piece is UNSIGNED-PAYLOAD like any checksummed body', async () => {
    const h = await withPiece(Buffer.from('bytes'), (body) => signedHeaders('https://s3.example.test', piecePart(body, 5)));
    expect(h['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
  });

  it('a part that failed is retried by the SDK with the whole piece sent again (a plain stream body would not be)', async () => {
    const content = randomBytes(1024 * 1024 + 17);
    const bodies: Buffer[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks));
        if (bodies.length === 1) {
          res.writeHead(500, { 'content-type': 'application/xml' });
          res.end('<Error><Code>InternalError</Code><Message>try again</Message></Error>');
        } else {
          res.writeHead(200, { etag: '"part-1"' });
          res.end();
        }
      });
    });
    const port = await listen(server);
    try {
      const s3 = client(`http://127.0.0.1:${port}`, 3);
      const out = await withPiece(content, (body) => s3.send(piecePart(body, content.length)));
      expect(out.ETag).toBe('"part-1"');
      expect(bodies).toHaveLength(2);
      expect(bodies.every((b) => b.equals(content))).toBe(true);
      s3.destroy();
    } finally {
      await closeServer(server);
    }
  });
});
