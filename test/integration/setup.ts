import { afterAll, beforeAll } from 'vitest';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { startS3, type S3Server } from '../support/s3-server.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';
import { jobEnv, makeProject } from '../support/run-cli.js';
import { functionName, projectWithFunctions } from '../support/deploy-state.js';

// Shared by the integration files: one S3 stand-in per file behind a recording proxy (so tests can
// count the S3 calls the runner made), a fresh bucket per test, and a job-like environment.

export const ENV_ID = 'e7b3ca8b-5b9a-4a51-8309-3ced4718e41f';
export const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETKEY';
export const GF_SECRET = 'gf-secret-9f8e7d6c5b4a';

/** The original integration's job variables, for a project whose packages are dist/*.zip. */
export const LAMBDA_VARS = {
  LAMBDA_ARTIFACTS: 'dist/*.zip',
  LAMBDA_RUNTIME: 'nodejs',
  LAMBDA_API: 'dev1',
  LAMBDA_ENVIRONMENT_ID: ENV_ID,
} as const;

export interface S3Stack {
  s3: S3Server;
  proxy: RecordingProxy;
  close(): Promise<void>;
}

export async function startS3Stack(): Promise<S3Stack> {
  const s3 = await startS3();
  const proxy = await startRecordingProxy(s3.endpoint);
  return {
    s3,
    proxy,
    async close() {
      await proxy.close();
      await s3.close();
    },
  };
}

export async function freshBucket(stack: S3Stack): Promise<string> {
  const name = `b-${randomUUID().slice(0, 13)}`;
  await stack.s3.createBucket(name);
  return name;
}

/** A project dir with three small packages (distinct content, so distinct sha256 keys). */
export async function projectWithPackages(names = ['hello.zip', 'orders.zip', 'users.zip']): Promise<string> {
  const files: Record<string, Buffer> = {};
  for (const n of names) files[`dist/${n}`] = Buffer.concat([Buffer.from(`PK-${n}-`), randomBytes(256)]);
  return makeProject(files);
}

export async function writeProjectFile(dir: string, rel: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(join(dir, rel)), { recursive: true });
  await writeFile(join(dir, rel), content);
}

export { rm, symlink };

export function s3Env(stack: S3Stack, bucket: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  return jobEnv({
    S3_BUCKET_NAME: bucket,
    AWS_ENDPOINT_URL_S3: stack.proxy.url,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDSTATICTEST',
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    // Short backoff keeps failure tests quick; the retry rules are the same.
    GESTALT_RETRY_ATTEMPTS: '3',
    ...extra,
  });
}

/** S3 write calls (PUT/POST/DELETE) the runner sent through the proxy since `from`. */
export function s3Writes(stack: S3Stack, from = 0) {
  return stack.proxy.requests.slice(from).filter((r) => r.method !== 'GET' && r.method !== 'HEAD');
}

export interface DeployFixture {
  stack: S3Stack;
  /** A project dir with `count` packages dist/f00.zip …, and the function names a deploy of ref main gives them. */
  dir: string;
  names: string[];
}

/** For a file's beforeAll/afterAll: one S3 stack and one project of `count` functions, read once set up. */
export function useDeployFixture(count: number): DeployFixture {
  const fixture = {} as DeployFixture;
  beforeAll(async () => {
    fixture.stack = await startS3Stack();
    const project = await projectWithFunctions(count);
    fixture.dir = project.dir;
    fixture.names = project.files.map((f) => functionName(f));
  });
  afterAll(async () => {
    await fixture.stack?.close();
  });
  return fixture;
}
