// The upload path as it was when the upload issue (16) was filed, kept only so `npm run bench` can measure
// today's path against it in the same run. Not used by the product. Faithful to that path: lib-storage's Upload
// over a createReadStream of the file (it copies the stream into 8 MiB parts, 4 in flight), on an S3Client with
// nothing but region, endpoint, path-style addressing and credentials set, so the SDK's defaults apply: SigV4
// hashes every part, and a CRC32 of every part is computed and sent. The SDK's default request handler trusts the
// discarding server's certificate through NODE_EXTRA_CA_CERTS, as any Node HTTPS client does.
import { createReadStream } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

export function previousClient(endpoint: string): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench-secret-key' } });
}

export async function previousUpload(s3: S3Client, bucket: string, key: string, path: string, sha256: string): Promise<void> {
  const upload = new Upload({
    client: s3,
    partSize: 8 * 1024 * 1024,
    queueSize: 4,
    leavePartsOnError: false,
    params: { Bucket: bucket, Key: key, Body: createReadStream(path), ContentType: 'application/zip', Metadata: { sha256 } },
  });
  await upload.done();
}
