// Running the bundle for `npm run bench`: wall time and the peak resident memory of the runner process itself.
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { jobEnv, makeProject, runCli, type CliResult } from '../support/run-cli.js';

export interface TimedRun {
  r: CliResult;
  ms: number;
  peakRssMb: number;
}

/** Runs the CLI and samples its peak resident memory from /proc while it runs. */
export async function timedRun(script: string, args: string[], env: Record<string, string | undefined>, cwd: string, expectCode = 0): Promise<TimedRun> {
  let peak = 0;
  const started = performance.now();
  const watcher = setInterval(async () => {
    for (const pid of await runnerPids()) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      if (hwm > peak) peak = hwm;
    }
  }, 25);
  const r = await runCli(args, { env, cwd, script });
  const ms = performance.now() - started;
  clearInterval(watcher);
  if (r.code !== expectCode) throw new Error(`${args.join(' ')} exited ${r.code}, expected ${expectCode}:\n${r.output}`);
  return { r, ms, peakRssMb: Math.round(peak) };
}

/** Our children running the bundle (moto, also our child, holds the uploaded bytes and must not count). */
async function runnerPids(): Promise<number[]> {
  const out = await readFile(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').catch(() => '');
  const pids = out.split(/\s+/).filter(Boolean).map(Number);
  const cmdlines = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')));
  return pids.filter((_, i) => cmdlines[i]?.includes('gestalt-deploy.js'));
}

/** A project of n fresh random packages dist/fn00.zip …, so every run uploads and creates everything. */
export async function packages(n: number, size = 2048): Promise<string> {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < n; i++) files[`dist/fn${String(i).padStart(2, '0')}.zip`] = randomBytes(size);
  return makeProject(files);
}

/** The job variables every bench deploy shares: static keys, the S3 stand-in, all packages under dist/. */
export function benchJobEnv(s3Endpoint: string, bucket: string, dir: string, environmentId: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  return jobEnv({
    CI_PROJECT_DIR: dir,
    S3_BUCKET_NAME: bucket,
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench-secret-key',
    LAMBDA_ARTIFACTS: 'dist/*.zip',
    LAMBDA_RUNTIME: 'nodejs',
    LAMBDA_API: 'dev1',
    LAMBDA_ENVIRONMENT_ID: environmentId,
    ...extra,
  });
}
