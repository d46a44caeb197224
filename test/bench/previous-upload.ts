// The multipart upload as it was before the upload tuning (issue 16), kept only so `npm run bench` can measure
// today's path against it in the same run: a fresh zero-filled buffer per part, and the SDK's default signing
// (SigV4 hashes every part once more). Not used by the product.
import { open } from 'node:fs/promises';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, S3Client, UploadPartCommand, type CompletedPart } from '@aws-sdk/client-s3';
import type { LocalPackage } from '../../src/storage/packages.js';
import { mapLimit } from '../../src/net/pool.js';
import { BoundedHttpHandler } from '../../src/net/aws-http.js';
import { createHash } from 'node:crypto';

export function previousClient(endpoint: string, timeoutMs: number): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench-secret-key' }, requestHandler: new BoundedHttpHandler(timeoutMs), maxAttempts: 1 });
}

export async function previousUpload(s3: S3Client, bucket: string, key: string, pkg: LocalPackage): Promise<void> {
  const file = await open(pkg.absPath);
  try {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: { sha256: pkg.sha256 }, ChecksumAlgorithm: 'SHA256' }));
    const parts = await mapLimit(pkg.partSha256, 4, async (partHex, index): Promise<CompletedPart> => {
      const offset = index * pkg.partSize;
      const body = Buffer.alloc(Math.min(pkg.partSize, pkg.size - offset));
      await file.read(body, 0, body.length, offset);
      if (createHash('sha256').update(body).digest('hex') !== partHex) throw new Error(`part ${index + 1} changed`);
      const ChecksumSHA256 = Buffer.from(partHex, 'hex').toString('base64');
      const out = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: index + 1, Body: body, ContentLength: body.length, ChecksumAlgorithm: 'SHA256', ChecksumSHA256 }));
      return { PartNumber: index + 1, ETag: out.ETag, ChecksumSHA256 };
    });
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
  } finally {
    await file.close();
  }
}
