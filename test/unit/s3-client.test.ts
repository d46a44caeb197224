// The S3 client's payload signing: bodies that carry their SHA-256 checksum go unsigned over HTTPS only.
import { PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { AwsSettings, Config, StorageSettings } from '../../src/config/types.js';
import { createS3Client } from '../../src/storage/client.js';

const storage = { bucket: 'b', prefix: 'p', forcePathStyle: true, access: 'private', presignSeconds: 60 } as StorageSettings;
const http = { timeoutMs: 5000, retry: { attempts: 1 } } as Config['http'];
const SHA = Buffer.alloc(32, 7).toString('base64');

/** The headers the request would go out with, signed, without sending it. */
async function signedHeaders(endpoint: string, command: PutObjectCommand | UploadPartCommand): Promise<Record<string, string>> {
  const s3 = createS3Client({ region: 'us-east-1', s3Endpoint: endpoint } as AwsSettings, storage, { source: 'static', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'unit-secret' } }, http);
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
