// S3 stand-ins for integration tests: moto_server (most faithful, Python, preinstalled on the project's machine)
// or fauxqs (npm-only fallback, in-process). docs/testing.md says what each one gets right and wrong.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';

export type S3Kind = 'moto' | 'fauxqs';

export interface S3Server {
  kind: S3Kind;
  endpoint: string;
  region: string;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  listKeys(bucket: string, prefix?: string): Promise<string[]>;
  getObject(bucket: string, key: string): Promise<Buffer | undefined>;
  headObject(bucket: string, key: string): Promise<{ size: number; metadata: Record<string, string> } | undefined>;
  reset(): Promise<void>;
  close(): Promise<void>;
  /**
   * moto only: allow `count` more unauthenticated calls, then enforce IAM auth (POST /moto-api/reset-auth). This
   * switches auth on even if the server started without it, after which the admin helpers (static 'test' keys)
   * get InvalidAccessKeyId; Infinity switches it off again, and so does reset().
   */
  resetAuth?: (count: number) => Promise<void>;
}

export interface StartS3Options {
  prefer?: S3Kind;
  /** Extra environment for moto_server, e.g. INITIAL_NO_AUTH_ACTION_COUNT. Ignored by fauxqs. */
  env?: Record<string, string>;
}

const REGION = 'us-east-1';
const TEST_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

let motoAvailableCache: boolean | undefined;

export function motoAvailable(): boolean {
  if (motoAvailableCache === undefined) {
    // The pyenv shim exists even when the selected Python lacks moto, so "on PATH" is not enough: run it.
    const r = spawnSync('moto_server', ['--help'], { stdio: 'ignore', timeout: 15_000 });
    motoAvailableCache = r.error === undefined && r.status === 0;
  }
  return motoAvailableCache;
}

/**
 * Which stand-in startS3 would run for this preference. Tests that need moto-only behaviour (IAM auth mode,
 * STS) should skip unless this says 'moto', because GESTALT_TEST_S3 may force fauxqs.
 */
export function chosenS3Kind(prefer?: S3Kind): S3Kind {
  const forced = process.env.GESTALT_TEST_S3?.trim();
  if (forced) {
    if (forced !== 'moto' && forced !== 'fauxqs') {
      throw new Error(`GESTALT_TEST_S3 must be 'moto' or 'fauxqs', got '${forced}'`);
    }
    if (forced === 'moto' && !motoAvailable()) {
      throw new Error('GESTALT_TEST_S3=moto but moto_server is not on PATH or does not run');
    }
    return forced;
  }
  if (prefer === 'fauxqs') return 'fauxqs';
  return motoAvailable() ? 'moto' : 'fauxqs';
}

let announced = false;

export async function startS3(opts: StartS3Options = {}): Promise<S3Server> {
  const kind = chosenS3Kind(opts.prefer);
  if (!announced) {
    announced = true;
    const why = process.env.GESTALT_TEST_S3 ? ' (forced by GESTALT_TEST_S3)' : '';
    process.stderr.write(`[test] S3 stand-in: ${kind === 'moto' ? 'moto_server' : 'fauxqs (in-process)'}${why}\n`);
  }
  return kind === 'moto' ? startMoto(opts.env ?? {}) : startFauxqsServer();
}

export function adminClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: TEST_CREDENTIALS,
    // The admin client inspects state; retries would only hide a broken stand-in and slow failures down.
    maxAttempts: 1,
  });
}

function isNotFound(err: unknown): boolean {
  if (err instanceof S3ServiceException) {
    return err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound';
  }
  return false;
}

function withHelpers(
  base: { kind: S3Kind; endpoint: string; client: S3Client },
  reset: () => Promise<void>,
  close: () => Promise<void>,
): S3Server {
  const { client } = base;
  return {
    ...base,
    region: REGION,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async listKeys(bucket, prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    async getObject(bucket, key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!out.Body) return Buffer.alloc(0);
        return Buffer.from(await out.Body.transformToByteArray());
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async headObject(bucket, key) {
      try {
        const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { size: out.ContentLength ?? 0, metadata: { ...(out.Metadata ?? {}) } };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    reset,
    close,
  };
}

// ---------------------------------------------------------------------------------------------- moto

const liveMotoGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test that forgets close(), or a worker torn down on timeout, must not leave moto_server running.
  process.on('exit', () => {
    for (const pgid of liveMotoGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function startMoto(extraEnv: Record<string, string>): Promise<S3Server> {
  installExitHook();
  let lastError: Error | undefined;
  // The free port is only free until someone else takes it; a lost race shows up as an early exit.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await spawnMoto(port, extraEnv);
    } catch (err) {
      lastError = err as Error;
      if (!(err instanceof MotoExitedEarly)) throw err;
    }
  }
  throw lastError ?? new Error('moto_server did not start');
}

class MotoExitedEarly extends Error {}

async function spawnMoto(port: number, extraEnv: Record<string, string>): Promise<S3Server> {
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    // Own process group: the pyenv shim and Python (and werkzeug's reloader, if ever on) die together.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...extraEnv },
  });
  const pgid = child.pid;
  if (pgid === undefined) throw new Error('moto_server could not be spawned');
  liveMotoGroups.add(pgid);

  // moto logs every request; the pipes must be drained or it blocks. Keep a tail for error messages.
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      liveMotoGroups.delete(pgid);
      resolve();
    });
  });

  const killGroup = async () => {
    if (exited) return;
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      return;
    }
    const done = await Promise.race([exitPromise.then(() => true), sleep(3000).then(() => false)]);
    if (!done) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exitPromise;
    }
  };

  const endpoint = `http://127.0.0.1:${port}`;
  let ready = false;
  for (let i = 0; i < 100 && !ready; i++) {
    if (exited) {
      throw new MotoExitedEarly(
        `moto_server exited before answering (code ${exited.code}, signal ${exited.signal}):\n${tail}`,
      );
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      ready = true;
    } catch {
      await sleep(100);
    }
  }
  if (!ready) {
    await killGroup();
    throw new Error(`moto_server did not answer on ${endpoint} within 10 s:\n${tail}`);
  }

  const client = adminClient(endpoint);
  const motoApi = async (path: string, body?: string) => {
    const res = await fetch(`${endpoint}${path}`, {
      method: 'POST',
      headers: body === undefined ? {} : { 'content-type': 'text/plain' },
      body,
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`moto ${path} answered ${res.status}`);
  };

  // /moto-api/reset keeps the auth setting, and reset-auth turns IAM auth on even for a server started without
  // it; reset() restores the startup setting so every test begins alike ("Infinity" parses as Python's inf).
  const startupAuth = extraEnv.INITIAL_NO_AUTH_ACTION_COUNT ?? 'Infinity';
  const server = withHelpers(
    { kind: 'moto', endpoint, client },
    async () => {
      await motoApi('/moto-api/reset');
      await motoApi('/moto-api/reset-auth', startupAuth);
    },
    async () => {
      client.destroy();
      await killGroup();
    },
  );
  server.resetAuth = (count: number) => motoApi('/moto-api/reset-auth', String(count));
  return server;
}

// -------------------------------------------------------------------------------------------- fauxqs

interface FauxqsStoreModules {
  S3Store: new () => { purgeAll(): void };
  SqsStore: new () => unknown;
  SnsStore: new () => unknown;
}

async function loadFauxqsStores(appUrl: string): Promise<FauxqsStoreModules> {
  // The store classes are not in fauxqs' export map, but a full reset needs the S3 store: buckets with an
  // unfinished multipart upload cannot be deleted over the S3 API, and fauxqs has no ListMultipartUploads.
  // Importing by file URL bypasses the export map; the version is pinned (~1.9.2), so the layout is stable.
  try {
    const [s3, sqs, sns] = await Promise.all([
      import(new URL('./s3/s3Store.js', appUrl).href) as Promise<{ S3Store: FauxqsStoreModules['S3Store'] }>,
      import(new URL('./sqs/sqsStore.js', appUrl).href) as Promise<{ SqsStore: FauxqsStoreModules['SqsStore'] }>,
      import(new URL('./sns/snsStore.js', appUrl).href) as Promise<{ SnsStore: FauxqsStoreModules['SnsStore'] }>,
    ]);
    return { S3Store: s3.S3Store, SqsStore: sqs.SqsStore, SnsStore: sns.SnsStore };
  } catch (err) {
    throw new Error(`fauxqs internals moved (expected next to ${appUrl}); update test/support/s3-server.ts: ${err}`);
  }
}

async function startFauxqsServer(): Promise<S3Server> {
  const fauxqs = await import('fauxqs');
  const appUrl = import.meta.resolve('fauxqs');
  const stores = await loadFauxqsStores(appUrl);
  const s3Store = new stores.S3Store();
  const app = fauxqs.buildApp({
    logger: false,
    defaultRegion: REGION,
    stores: {
      s3Store,
      sqsStore: new stores.SqsStore(),
      snsStore: new stores.SnsStore(),
    } as unknown as NonNullable<Parameters<typeof fauxqs.buildApp>[0]>['stores'],
  });
  // Not startFauxqs()/the CLI: both bind 0.0.0.0, and tests must only listen on loopback.
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${addr.port}`;
  const client = adminClient(endpoint);
  return withHelpers(
    { kind: 'fauxqs', endpoint, client },
    async () => {
      s3Store.purgeAll();
    },
    async () => {
      client.destroy();
      await app.close();
    },
  );
}
