import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { LoggedRequest, MetaEmulator, MetaEmulatorOptions } from '../support/meta-emulator.js';
import { startMetaEmulator } from '../support/meta-emulator.js';
import { runCli, type CliResult } from '../support/run-cli.js';
import { freshBucket, GF_SECRET, s3Env, startS3Stack, type S3Stack } from './setup.js';

// Shared by the meta-mode integration files: a Meta emulator seeded like a small Gestalt (environment 'dev' with
// API 'dev1' and a Lambda provider), a fresh bucket, and the job variables of a meta-mode deploy against them.

export const GATEWAY = 'https://gw.example.test';

export interface MetaWorld {
  meta: MetaEmulator;
  envId: string;
  providerId: string;
  bucket: string;
}

export async function startMetaWorld(stack: S3Stack, options: MetaEmulatorOptions = {}): Promise<MetaWorld> {
  const meta = await startMetaEmulator({ apiKeys: { 'gf-key': GF_SECRET }, gatewayUrl: GATEWAY, ...options });
  const envId = meta.seedEnvironment({ name: 'dev' });
  meta.seedApi(envId, { name: 'dev1' });
  const providerId = meta.seedLambdaProvider();
  const bucket = await freshBucket(stack);
  meta.clearRequests();
  return { meta, envId, providerId, bucket };
}

/** A file's S3 stack (once) and a fresh Meta world (per test), as the hooks keep them; read its fields inside tests. */
export interface MetaWorldFixture extends MetaWorld {
  stack: S3Stack;
  /** A meta-mode deploy's variables for `dir`, every package under dist/. */
  env(dir: string, extra?: Record<string, string | undefined>): Record<string, string>;
  /** Replaces this test's world with one started with `options` (the old one is closed). */
  restart(options: MetaEmulatorOptions): Promise<void>;
}

export function useMetaWorld(): MetaWorldFixture {
  const fixture = {
    env: (dir: string, extra: Record<string, string | undefined> = {}) => metaJobEnv(fixture.stack, fixture, dir, { LAMBDA_ARTIFACTS: 'dist/*.zip', ...extra }),
    async restart(options: MetaEmulatorOptions) {
      await fixture.meta.close();
      Object.assign(fixture, await startMetaWorld(fixture.stack, options));
    },
  } as MetaWorldFixture;
  beforeAll(async () => {
    fixture.stack = await startS3Stack();
  });
  afterAll(async () => {
    await fixture.stack.close();
  });
  beforeEach(async () => {
    Object.assign(fixture, await startMetaWorld(fixture.stack));
  });
  afterEach(async () => {
    await fixture.meta.close();
  });
  return fixture;
}

/** A meta-mode job's variables (no LAMBDA_ARTIFACTS: callers add it, or a functions file lists the packages). */
export function metaJobEnv(stack: S3Stack, world: MetaWorld, dir: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  return s3Env(stack, world.bucket, {
    CI_PROJECT_DIR: dir,
    GESTALT_META_URL: world.meta.url,
    GESTALT_ORG: 'root',
    GESTALT_LAMBDA_PROVIDER_ID: world.providerId,
    GF_API_KEY: 'gf-key',
    GF_API_SECRET: GF_SECRET,
    LAMBDA_RUNTIME: 'nodejs',
    LAMBDA_HANDLER: 'index.handler',
    LAMBDA_API: 'dev1',
    LAMBDA_ENVIRONMENT_ID: world.envId,
    ...extra,
  });
}

/** Runs the bundle and keeps every result, so the file can check afterwards that no secret was ever printed. */
export function recordingRunner(outputs: CliResult[]) {
  return async (args: string[], env: Record<string, string | undefined>, cwd: string): Promise<CliResult> => {
    const r = await runCli(args, { env, cwd });
    outputs.push(r);
    return r;
  };
}

export const isWrite = (r: LoggedRequest) => r.method !== 'GET';
/** Method and path with ids replaced, for comparing call sequences. */
export const calls = (rs: LoggedRequest[]) => rs.map((r) => `${r.method} ${r.path.replace(/[0-9a-f-]{36}/g, ':id')}`);
