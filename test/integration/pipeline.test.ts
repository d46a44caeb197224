// The pipelined deploy, seen from the servers: a function goes to Gestalt as soon as its own package is in S3
// (not after the slowest upload), yet no Gestalt write starts before the record's first write is in S3. The S3
// proxy holds back one package's PUT until the gateway has had the other functions' POSTs, so the order is
// decided by the test, not by timing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { assertNoSecrets, runCli as runBundle, type CliResult } from '../support/run-cli.js';
import { AWS_SECRET, LAMBDA_VARS, freshBucket, projectWithPackages, s3Env, startS3Stack, type S3Stack } from './setup.js';

let stack: S3Stack;
let gw: GatewayFake;
const outputs: CliResult[] = [];

/** The bundle, every result kept so the file can check that no secret was printed or reported. */
async function runCli(args: string[], opts: Parameters<typeof runBundle>[1]): Promise<CliResult> {
  const r = await runBundle(args, opts);
  outputs.push(r);
  return r;
}

beforeAll(async () => {
  stack = await startS3Stack();
  gw = await startGatewayFake();
});
afterAll(async () => {
  stack.proxy.hold = undefined;
  await gw.close();
  await stack.close();
  assertNoSecrets(outputs.flatMap((o) => [o.output, o.files.env, JSON.stringify(o.files.json ?? {})]), [AWS_SECRET]);
});

/** Resolves once `ready()` holds, or after `limitMs` (the test's assertions then say what did not happen). */
async function until(ready: () => boolean, limitMs = 20_000): Promise<void> {
  for (const started = Date.now(); !ready() && Date.now() - started < limitMs; ) await new Promise((r) => setTimeout(r, 10));
}

describe('pipelined deploy', () => {
  it('deploys each function once its own package is up, never before the record is written, and reports per-phase timings', { timeout: 60_000 }, async () => {
    const bucket = await freshBucket(stack);
    const dir = await projectWithPackages(['slow.zip', 'quick1.zip', 'quick2.zip']);
    const postsFor = (file: string) => gw.requests.filter((q) => q.method === 'POST' && String((q.body as { file?: string })?.file ?? '').endsWith(file));
    const quickPosted = () => postsFor('quick1.zip').length > 0 && postsFor('quick2.zip').length > 0;
    const from = stack.proxy.requests.length;
    stack.proxy.hold = (q) => (q.method === 'PUT' && q.path.endsWith('/slow.zip') ? until(quickPosted) : undefined);
    let r: CliResult;
    try {
      r = await runCli(['deploy'], { env: s3Env(stack, bucket, { CI_PROJECT_DIR: dir, CI_URL: gw.url, ...LAMBDA_VARS, GESTALT_CONCURRENCY: '4' }), cwd: dir });
    } finally {
      stack.proxy.hold = undefined;
    }
    expect(r.code, r.output).toBe(0);

    const requests = stack.proxy.requests.slice(from);
    const slowPut = requests.find((q) => q.method === 'PUT' && q.path.endsWith('/slow.zip'));
    const recordPuts = requests.filter((q) => q.method === 'PUT' && q.path.endsWith('/deployments/review/main.json'));
    const posts = gw.requests.filter((q) => q.method === 'POST');
    expect(posts).toHaveLength(3);
    // The quick functions reached Gestalt while the slow package was still uploading.
    for (const file of ['quick1.zip', 'quick2.zip']) expect(postsFor(file)[0]?.at).toBeLessThan(slowPut?.answeredAt ?? 0);
    expect(postsFor('slow.zip')[0]?.at).toBeGreaterThanOrEqual(slowPut?.answeredAt ?? Infinity);
    // The record named them first: its first write (create-only) was answered before any Gestalt write began.
    expect(recordPuts[0]?.ifNoneMatch).toBe('*');
    expect(recordPuts[0]?.answeredAt).toBeLessThanOrEqual(Math.min(...posts.map((p) => p.at)));
    // Each record write starts from the ETag of the one before: the record is read only by the preflight and
    // by the final read-back, however many times it is written.
    const recordGets = requests.filter((q) => q.method === 'GET' && q.path.endsWith('/deployments/review/main.json'));
    expect(recordGets).toHaveLength(2);
    expect(recordPuts.length).toBeGreaterThanOrEqual(2);
    expect(recordPuts.slice(1).every((q) => q.ifMatch !== undefined)).toBe(true);

    // Timings: each function's own upload and deploy time, their sums per phase, each phase's wall span, the total.
    const report = r.files.json;
    const lines = report.functions as { name: string; timingsMs?: Record<string, number> }[];
    for (const f of lines) {
      expect(f.timingsMs?.upload, f.name).toBeGreaterThanOrEqual(0);
      expect(f.timingsMs?.deploy, f.name).toBeGreaterThanOrEqual(0);
    }
    const sum = (phase: string) => lines.reduce((n, f) => n + (f.timingsMs?.[phase] ?? 0), 0);
    for (const phase of ['upload', 'deploy']) {
      expect(Math.abs(report.phaseSumsMs[phase] - sum(phase)), phase).toBeLessThanOrEqual(lines.length);
      expect(report.timingsMs[phase], phase).toBeGreaterThanOrEqual(Math.max(...lines.map((f) => f.timingsMs?.[phase] ?? 0)) - 1);
    }
    // The slow function's own upload time covers the whole time S3 held its PUT (while the quick ones deployed,
    // as the POST times above show); ms rounding on both sides allows 2 ms. The total covers the whole run.
    const slow = lines.find((f) => f.name.includes('slow'));
    expect(slow?.timingsMs?.upload).toBeGreaterThanOrEqual((slowPut?.answeredAt ?? Infinity) - (slowPut?.at ?? 0) - 2);
    expect(report.timingsMs.total).toBeGreaterThanOrEqual(report.timingsMs.upload);
  });

  it('keeps no more than 10 Gestalt writes in flight at GESTALT_CONCURRENCY=16 (the size of Meta\'s database pool)', { timeout: 60_000 }, async () => {
    const bucket = await freshBucket(stack);
    const names = Array.from({ length: 14 }, (_, i) => `fn${String(i).padStart(2, '0')}.zip`);
    const dir = await projectWithPackages(names);
    const capped = await startGatewayFake();
    // Long enough that every upload is done while the first writes are still in flight.
    capped.setDelay(500);
    try {
      const r = await runCli(['deploy'], { env: s3Env(stack, bucket, { CI_PROJECT_DIR: dir, CI_URL: capped.url, ...LAMBDA_VARS, GESTALT_CONCURRENCY: '16' }), cwd: dir });
      expect(r.code, r.output).toBe(0);
      expect(capped.requests.filter((q) => q.method === 'POST')).toHaveLength(14);
      expect(capped.maxInFlight).toBe(10);
    } finally {
      await capped.close();
    }
  });

  it('creates a small new package with one create-only PUT; one that is there already is checked by HEAD and not sent again', { timeout: 60_000 }, async () => {
    const bucket = await freshBucket(stack);
    const dir = await projectWithPackages(['a.zip', 'b.zip']);
    const packageCalls = (from: number) => stack.proxy.requests.slice(from).filter((q) => q.path.includes('/packages/')).map((q) => `${q.method} ${q.path.split('/').pop()} ${q.status}${q.ifNoneMatch ? ` if-none-match ${q.ifNoneMatch}` : ''}`).sort();
    const env = (environment: string) => s3Env(stack, bucket, { CI_PROJECT_DIR: dir, CI_URL: gw.url, ...LAMBDA_VARS, CI_ENVIRONMENT_NAME: environment });

    let from = stack.proxy.requests.length;
    const first = await runCli(['deploy'], { env: env('review/one'), cwd: dir });
    expect(first.code, first.output).toBe(0);
    expect(packageCalls(from)).toEqual(['PUT a.zip 200 if-none-match *', 'PUT b.zip 200 if-none-match *']);

    // Another environment, same packages: S3 keeps what it has (412), their bytes are proven by HEAD, nothing is stored twice.
    from = stack.proxy.requests.length;
    const second = await runCli(['deploy'], { env: env('review/two'), cwd: dir });
    expect(second.code, second.output).toBe(0);
    expect(packageCalls(from)).toEqual(['HEAD a.zip 200', 'HEAD b.zip 200', 'PUT a.zip 412 if-none-match *', 'PUT b.zip 412 if-none-match *']);
    expect(second.files.json.functions.map((f: { upload: string; bytesUploaded: number }) => [f.upload, f.bytesUploaded])).toEqual([['skipped', 0], ['skipped', 0]]);

    // The same environment again: the record says the packages are there, so only a HEAD each.
    from = stack.proxy.requests.length;
    const again = await runCli(['deploy'], { env: env('review/two'), cwd: dir });
    expect(again.code, again.output).toBe(0);
    expect(packageCalls(from)).toEqual(['HEAD a.zip 200', 'HEAD b.zip 200']);
  });
});
