// The 250 MB upload for `npm run bench`: today's PackageStore against the path when the upload issue was filed
// (previous-upload.ts: lib-storage, SDK defaults), each in a process of its own against a discarding HTTPS S3 on
// 127.0.0.1, interleaved.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { startDiscardS3 } from '../support/discard-s3.js';
import { median } from './startup.js';

const run = promisify(execFile);
const SIZE = 250 * 1000 * 1000;
export const UPLOAD_PAIRS = 5;

export interface UploadSide {
  ms: number;
  mibPerS: number;
  peakRssMb: number;
  /** CPU time of the uploading process over the upload, every thread. */
  cpuMs: number;
  /** CPU time of this process (the discarding S3, all it does meanwhile) over the same run: on a machine of few cores the two compete. */
  storeCpuMs: number;
}
export interface UploadResult {
  current: UploadSide;
  previous: UploadSide;
  putsWithChecksum: number;
  puts: number;
  unsignedPayloads: number;
}

export async function measureUploads(root: string): Promise<UploadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-upload-'));
  const s3 = await startDiscardS3();
  try {
    // Built under node_modules/.cache so its bare imports (the SDK) resolve to the repository's node_modules.
    const driver = join(root, 'node_modules/.cache/gestalt-deploy/upload-driver.mjs');
    await build({ entryPoints: [join(root, 'test/bench/upload-driver.ts')], outfile: driver, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' });
    const file = join(dir, 'big.zip');
    // Written a MiB at a time: this process stays small (its children's memory is measured, not its own).
    await writeRandomFile(file, SIZE);
    type Sample = { ms: number; peakRssMb: number; cpuMs: number; storeCpuMs: number };
    const samples: Record<'current' | 'previous', Sample[]> = { current: [], previous: [] };
    let last = { putsWithChecksum: 0, puts: 0, unsignedPayloads: 0 };
    for (let i = 0; i < UPLOAD_PAIRS; i++) {
      for (const impl of ['previous', 'current'] as const) {
        s3.reset();
        const store = process.cpuUsage();
        const out = await run(process.execPath, [driver, impl, file, s3.endpoint], { env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: s3.caFile } });
        const storeCpu = process.cpuUsage(store);
        samples[impl].push({ ...(JSON.parse(out.stdout) as Omit<Sample, 'storeCpuMs'>), storeCpuMs: (storeCpu.user + storeCpu.system) / 1000 });
        if (impl === 'current') last = { ...s3.stats };
      }
    }
    const side = (xs: Sample[]): UploadSide => {
      const ms = median(xs.map((x) => x.ms));
      return { ms, mibPerS: SIZE / 1024 / 1024 / (ms / 1000), peakRssMb: median(xs.map((x) => x.peakRssMb)), cpuMs: median(xs.map((x) => x.cpuMs)), storeCpuMs: median(xs.map((x) => x.storeCpuMs)) };
    };
    return { current: side(samples.current), previous: side(samples.previous), ...last };
  } finally {
    await s3.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function writeRandomFile(path: string, size: number): Promise<void> {
  const file = await open(path, 'w');
  try {
    for (let at = 0; at < size; at += 1 << 20) await file.write(randomBytes(Math.min(1 << 20, size - at)));
  } finally {
    await file.close();
  }
}
