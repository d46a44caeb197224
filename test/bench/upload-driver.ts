// One upload of one package in a process of its own, so its peak memory is its own: `current` is the product's
// PackageStore with the product's S3 client, `previous` the path when the upload issue was filed
// (previous-upload.ts: lib-storage with the SDK's defaults).
// Prints one JSON line: upload time, the process's CPU time over it (every thread), peak RSS and the package size.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { hashFile } from '../../src/artifacts/files.js';
import { createS3Client } from '../../src/storage/client.js';
import { PackageStore, packageKey, type LocalPackage } from '../../src/storage/packages.js';
import type { AwsSettings, Config, StorageSettings } from '../../src/config/types.js';

const [impl, path, endpoint] = process.argv.slice(2) as [string, string, string];
const TIMEOUT_MS = 120_000;
const storage = { bucket: 'bench', prefix: 'bench', forcePathStyle: true, access: 'private', presignSeconds: 3600 } as unknown as StorageSettings;
const aws = { region: 'us-east-1', s3Endpoint: endpoint } as unknown as AwsSettings;
const http = { timeoutMs: TIMEOUT_MS, retry: { attempts: 1 } } as unknown as Config['http'];

// Loaded only for its own side (the product never loads lib-storage), and before the clock starts.
const previous = impl === 'previous' ? await import('./previous-upload.js') : undefined;
const digest = await hashFile(path);
const pkg: LocalPackage = { ...digest, absPath: path, relPath: basename(path) };
const key = packageKey(storage, digest.sha256, basename(path));
const started = performance.now();
const cpuAtStart = process.cpuUsage();
if (previous) {
  await previous.previousUpload(previous.previousClient(endpoint), storage.bucket, key, path, digest.sha256);
} else {
  const s3 = createS3Client(aws, storage, { source: 'static', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench-secret-key' } }, http);
  await new PackageStore(s3, storage, aws).upload(key, pkg);
}
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpuAtStart);
process.stdout.write(`${JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, peakRssMb: peakRssMb(), maxRssMb: process.resourceUsage().maxRSS / 1024, bytes: digest.size })}\n`);

/**
 * This process's own peak: VmHWM, the high-water mark of its memory since exec. getrusage's maxRSS is not that on
 * Linux: it keeps the high-water mark of the parent's memory that the child had at fork, before exec, so a bench
 * process holding the 250 MB it just wrote would show up in every child's number.
 */
function peakRssMb(): number {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (hwm === undefined) throw new Error('no VmHWM in /proc/self/status: the upload bench needs Linux');
  return Number(hwm) / 1024;
}
