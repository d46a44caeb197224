// Every remote call is bounded: Gestalt (Meta and gateway), S3 and STS endpoints that never answer, that send
// their headers and then one byte every half second, or that send hundreds of MiB. Each run must end with exit 1
// within the documented bound — GESTALT_RETRY_ATTEMPTS tries of GESTALT_HTTP_TIMEOUT each, plus the backoff
// between them — naming the endpoint and the timeout (or the size cap), where before it hung until the job
// timeout or read the whole body into memory.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultServer, type FaultMode, type FaultServer } from '../support/fault-server.js';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { startMetaEmulator, type MetaEmulator } from '../support/meta-emulator.js';
import { runCli, type CliResult } from '../support/run-cli.js';
import { GF_SECRET, LAMBDA_VARS, freshBucket, projectWithPackages, s3Env, startS3Stack, type S3Stack } from './setup.js';

const TIMEOUT_S = 2;
const ATTEMPTS = 2;
// The documented bound for one unanswered call: every try at most GESTALT_HTTP_TIMEOUT, and the backoff before
// the second try at most 0.4 s (ours) or 0.2 s (the SDK's, for S3). Plus the time to start Node and load the
// bundle on a busy 2-core machine, which is not the runner waiting on anything.
const BOUND_MS = ATTEMPTS * TIMEOUT_S * 1000 + 400;
const STARTUP_SLACK_MS = 4000;
const MIB = 1024 * 1024;

let stack: S3Stack;
let gw: GatewayFake;
let meta: MetaEmulator;
let envId: string;
let providerId: string;
let dir: string;
const faults: FaultServer[] = [];

beforeAll(async () => {
  stack = await startS3Stack();
  gw = await startGatewayFake();
  meta = await startMetaEmulator({ apiKeys: { 'gf-key': GF_SECRET }, gatewayUrl: 'https://gw.example.test' });
  envId = meta.seedEnvironment({ name: 'dev' });
  meta.seedApi(envId, { name: 'dev1' });
  providerId = meta.seedLambdaProvider();
  dir = await projectWithPackages(['one.zip']);
});
afterEach(async () => {
  await Promise.all(faults.splice(0).map((f) => f.close()));
});
afterAll(async () => {
  await meta.close();
  await gw.close();
  await stack.close();
});

async function fault(mode: FaultMode, opts: Parameters<typeof startFaultServer>[1] = {}): Promise<FaultServer> {
  const server = await startFaultServer(mode, opts);
  faults.push(server);
  return server;
}

async function timedRun(env: Record<string, string>): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  // Killed (and the test failed with the output so far) long before a hang would end on its own.
  const r = await runCli(['deploy'], { env, cwd: dir, timeoutMs: 30_000 });
  return { ...r, ms: Date.now() - started };
}

const bounded = { GESTALT_HTTP_TIMEOUT: String(TIMEOUT_S), GESTALT_RETRY_ATTEMPTS: String(ATTEMPTS) };

async function gatewayEnv(extra: Record<string, string | undefined> = {}) {
  return s3Env(stack, await freshBucket(stack), { CI_PROJECT_DIR: dir, CI_URL: gw.url, ...LAMBDA_VARS, ...bounded, ...extra });
}

async function metaEnv(url: string) {
  return s3Env(stack, await freshBucket(stack), {
    CI_PROJECT_DIR: dir,
    GESTALT_META_URL: url,
    GESTALT_ORG: 'root',
    GESTALT_LAMBDA_PROVIDER_ID: providerId,
    GF_API_KEY: 'gf-key',
    GF_API_SECRET: GF_SECRET,
    ...LAMBDA_VARS,
    LAMBDA_HANDLER: 'index.handler',
    LAMBDA_ENVIRONMENT_ID: envId,
    ...bounded,
  });
}

/** exit 1, within the bound, and the one sentence names the endpoint and the timeout or the cap. */
function expectBounded(r: CliResult & { ms: number }, server: FaultServer, mode: FaultMode): void {
  expect(r.code, r.output).toBe(1);
  expect(r.ms, r.output).toBeLessThan(BOUND_MS + STARTUP_SLACK_MS);
  expect(r.output).toContain(server.url);
  if (mode === 'huge') {
    expect(r.output).toMatch(/is larger than 16 MiB/);
    // The runner stopped reading near the cap: the server got to send only a fraction of its 400 MiB.
    expect(server.bytesSent).toBeLessThan(100 * MIB);
  } else {
    expect(r.output).toContain(`within ${TIMEOUT_S} s (GESTALT_HTTP_TIMEOUT)`);
  }
  expect(r.files.json?.status, r.output).toBe('failed');
  process.stdout.write(`[bounds] ${mode} ${server.faulted[0]?.method} ${server.faulted[0]?.path.split('?')[0]}: exit ${r.code} after ${r.ms} ms (bound ${BOUND_MS} ms + ${STARTUP_SLACK_MS} ms startup), ${server.faulted.length} request(s) faulted, ${server.bytesSent} bytes sent\n`);
}

const MODES: FaultMode[] = ['silent', 'trickle', 'huge'];

describe.each(MODES)('a %s endpoint', (mode) => {
  it('Gestalt Meta: the lookup fails within the bound', async () => {
    const server = await fault(mode);
    const r = await timedRun(await metaEnv(server.url));
    expectBounded(r, server, mode);
    expect(r.output).toMatch(/Gestalt Meta/);
    // Timeouts are retried (as network errors always were); an oversized answer is not asked for again. Four
    // lookups go out side by side: the environment, its APIs, its lambdas and the provider.
    const perCall = mode === 'huge' ? 1 : ATTEMPTS;
    expect(server.faulted.length).toBeLessThanOrEqual(4 * perCall);
  });

  it('the gateway (CI_URL): the deploy POST fails within the bound', async () => {
    const server = await fault(mode);
    const r = await timedRun(await gatewayEnv({ CI_URL: server.url }));
    expectBounded(r, server, mode);
    expect(r.output).toMatch(/deployment lambda/);
    // A deploy POST that timed out is not repeated (the lambda may still be deploying it); a huge answer is not either.
    expect(server.faulted.map((q) => q.method)).toEqual(['POST']);
    expect(r.files.json.functions[0]).toMatchObject({ action: 'failed' });
  });

  it('S3: reading the deployment record fails within the bound', async () => {
    const server = await fault(mode, { contentType: 'application/json' });
    const r = await timedRun(await gatewayEnv({ AWS_ENDPOINT_URL_S3: server.url }));
    expectBounded(r, server, mode);
    // The preflight's HeadBucket and the record read go out together; a bucket that does not answer is the one
    // cause said (a huge answer is a HEAD without body, so then the record read meets it).
    expect(r.output).toMatch(mode === 'huge' ? /S3 GetObject s3:\/\/\S+\/deployments\/review\/main\.json failed/ : /S3 HeadBucket s3:\/\/\S+ failed/);
    // Nothing reached the gateway: the run stopped at its first S3 calls.
    expect(server.faulted.map((q) => q.method).sort()).toContain('GET');
    expect(server.faulted.every((q) => q.method === 'GET' || q.method === 'HEAD')).toBe(true);
  });

  it('STS: AssumeRoleWithWebIdentity fails within the bound', async () => {
    const server = await fault(mode, { contentType: 'text/xml' });
    const env = await gatewayEnv({
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/gitlab-deployer',
      GESTALT_ID_TOKEN: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9qZWN0X3BhdGg6YWNtZS9sYW1iZGFzIn0.c2lnbmF0dXJlLXBhcnQ',
      AWS_ENDPOINT_URL_STS: server.url,
    });
    const r = await timedRun(env);
    expectBounded(r, server, mode);
    expect(r.output).toMatch(/AssumeRoleWithWebIdentity for arn:aws:iam::123456789012:role\/gitlab-deployer failed/);
    expect(r.output).toContain('AWS_ENDPOINT_URL_STS');
    expect(server.faulted.length).toBe(mode === 'huge' ? 1 : ATTEMPTS);
  });
});

describe('an S3 endpoint that holds uploads', () => {
  it('a PUT that is never answered fails within the bound while every other call works', async () => {
    // The record (written before any upload) goes through; only the package upload PUT is never answered.
    const server = await fault('silent', { forwardTo: stack.proxy.url, forward: (req) => req.method !== 'PUT' || (req.url ?? '').includes('/deployments/') });
    const r = await timedRun(await gatewayEnv({ AWS_ENDPOINT_URL_S3: server.url }));
    expectBounded(r, server, 'silent');
    expect(r.output).toMatch(/S3 PutObject s3:\/\/\S+\/packages\/[0-9a-f]{64}\/one\.zip failed: no complete answer/);
    expect(r.output).toMatch(/2 tries/);
    expect(server.faulted.map((q) => q.method)).toEqual(['PUT', 'PUT']);
    expect(server.forwarded.length).toBeGreaterThan(0);
    expect(r.files.json.functions[0]).toMatchObject({ action: 'failed', upload: 'skipped' });
  });
});
