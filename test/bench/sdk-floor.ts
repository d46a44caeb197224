// A fresh Node process doing nothing but a deploy's S3 part for n new small packages (HEAD, then PUT, with the
// runner's concurrency) through the product's own S3 client: what any runner built on this SDK pays before it
// does anything else. Prints one JSON line; its wall time is measured by the caller, spawn to exit.
// Usage: node sdk-floor.mjs <endpoint> <bucket> <key prefix> <n> <concurrency>
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { AwsSettings, Config, StorageSettings } from '../../src/config/types.js';
import { mapLimit } from '../../src/net/pool.js';
import { createS3Client } from '../../src/storage/client.js';

const [endpoint, bucket, prefix, n, concurrency] = process.argv.slice(2) as [string, string, string, string, string];
const aws = { region: 'us-east-1', s3Endpoint: endpoint } as unknown as AwsSettings;
const storage = { bucket, prefix, forcePathStyle: true, access: 'private', presignSeconds: 3600 } as unknown as StorageSettings;
const http = { timeoutMs: 30_000, retry: { attempts: 1 } } as unknown as Config['http'];
const s3 = createS3Client(aws, storage, { source: 'static', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench-secret-key' } }, http);
await mapLimit(Array.from({ length: Number(n) }, (_, i) => `${prefix}/${i}`), Number(concurrency), async (Key, i) => {
  await s3.send(new HeadObjectCommand({ Bucket: bucket, Key })).catch(() => undefined);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Buffer.alloc(2048, i) }));
});
s3.destroy();
process.stdout.write(`${JSON.stringify({ ms: performance.now() })}\n`);
