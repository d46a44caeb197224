import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { serveLoopback } from '../support/loopback.js';
import { useMetaWorld } from './meta-setup.js';
import { runCli } from '../support/run-cli.js';
import { projectWithPackages } from './setup.js';

// history, rollback and promote against the bundle, the Meta emulator and moto: everything after the
// first deploys runs from an empty directory, as a job with GIT_STRATEGY: none would.

const SHAS = ['1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', '3333333ccccccccccccccccccccccccccccccccc'];
const w = useMetaWorld();
const env = w.env;

/** An empty working directory: no checkout, no packages. */
async function emptyDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'gestalt-empty-'));
}

const packageUrls = () => Object.fromEntries(w.meta.lambdas().map((l) => [l.name, String(l.properties.package_url).replace(/^.*\/packages\//, '')]));
const uploads = (from: number) => w.stack.proxy.requests.slice(from).filter((r) => (r.method === 'PUT' || r.method === 'POST') && r.path.includes('/packages/'));

async function readJson(dir: string, name: string) {
  return JSON.parse(await readFile(join(dir, name), 'utf8'));
}

/** Deployment 1: hello + orders; 2: orders changed, memory 256; 3: hello changed and a new function, extra. */
async function threeDeploys(): Promise<{ dir: string; after: Record<string, string>[] }> {
  const dir = await projectWithPackages(['hello.zip', 'orders.zip']);
  const after: Record<string, string>[] = [];
  const deploy = async (sha: string, extra: Record<string, string> = {}) => {
    const r = await runCli(['deploy'], { env: env(dir, { CI_COMMIT_SHA: sha, ...extra }), cwd: dir });
    expect(r.code, r.output).toBe(0);
    after.push(packageUrls());
  };
  await deploy(SHAS[0] as string);
  await writeFile(join(dir, 'dist/orders.zip'), 'PK-orders-v2');
  await deploy(SHAS[1] as string, { LAMBDA_MEMORY: '256' });
  await writeFile(join(dir, 'dist/hello.zip'), 'PK-hello-v3');
  await writeFile(join(dir, 'dist/extra.zip'), 'PK-extra-v3');
  await deploy(SHAS[2] as string);
  return { dir, after };
}

describe('history and rollback', () => {
  it('lists three deploys newest first; rollback restores 2 with no upload and removes what only 3 had; a SHA prefix restores 1', async () => {
    const { after } = await threeDeploys();
    expect(w.meta.lambdas()).toHaveLength(3);

    const empty = await emptyDir();
    const bare = { LAMBDA_ARTIFACTS: undefined, LAMBDA_RUNTIME: undefined, LAMBDA_HANDLER: undefined };
    const h = await runCli(['history'], { env: env(empty, bare), cwd: empty });
    expect(h.code, h.output).toBe(0);
    const listed = await readJson(empty, 'gestalt-history.json');
    expect(listed.history.map((e: { number: number; sha: string; command: string }) => [e.number, e.sha, e.command])).toEqual([
      [3, SHAS[2], 'deploy'],
      [2, SHAS[1], 'deploy'],
      [1, SHAS[0], 'deploy'],
    ]);
    expect(listed.history[1].functions.find((f: { name: string }) => f.name === 'lambdas/main/orders.zip')).toMatchObject({ memory: 256, runtime: 'nodejs', handler: 'index.handler', methods: ['GET', 'POST'], public: true });
    expect(h.output).toMatch(/#3\s+\S+\s+3333333c\s+1001\s+deploy\s+lambdas\/main\/extra\.zip, lambdas\/main\/hello\.zip, lambdas\/main\/orders\.zip/);

    const before = w.stack.proxy.requests.length;
    const r = await runCli(['rollback'], { env: env(empty, { ...bare, CI_COMMIT_SHA: 'f'.repeat(40) }), cwd: empty });
    expect(r.code, r.output).toBe(0);
    expect(uploads(before)).toEqual([]);
    expect(r.files.json.totals.bytesUploaded).toBe(0);
    expect(packageUrls()).toEqual(after[1]);
    expect(w.meta.lambdas().find((l) => l.name === 'lambdas/main/orders.zip').properties.memory).toBe(256);
    expect(w.meta.endpoints().map((e) => e.name).sort()).toEqual(['lambdas/main/hello.zip', 'lambdas/main/orders.zip']);
    expect(r.files.json.functions.find((f: { name: string }) => f.name === 'lambdas/main/extra.zip')).toMatchObject({ action: 'removed' });

    const h2 = await runCli(['history'], { env: env(empty, bare), cwd: empty });
    const entries = (await readJson(empty, 'gestalt-history.json')).history;
    expect(h2.code).toBe(0);
    expect(entries[0]).toMatchObject({ number: 4, command: 'rollback', from: '#2' });

    const one = await runCli(['rollback'], { env: env(empty, { ...bare, GESTALT_ROLLBACK_TO: SHAS[0]?.slice(0, 7) }), cwd: empty });
    expect(one.code, one.output).toBe(0);
    expect(packageUrls()).toEqual(after[0]);
    expect(w.meta.lambdas().find((l) => l.name === 'lambdas/main/orders.zip').properties.memory).toBe(512);
  });

  it('a missing package or an unknown target changes nothing', async () => {
    await threeDeploys();
    const empty = await emptyDir();
    const snapshot = JSON.stringify(w.meta.lambdas());

    const unknown = await runCli(['rollback'], { env: env(empty, { GESTALT_ROLLBACK_TO: 'abcdef9' }), cwd: empty });
    expect(unknown.code, unknown.output).toBe(2);
    expect(unknown.output).toMatch(/GESTALT_ROLLBACK_TO: 'abcdef9' matches no entry/);

    const entries = JSON.parse((await runCli(['history'], { env: env(empty), cwd: empty }), await readFile(join(empty, 'gestalt-history.json'), 'utf8'))).history;
    const key = entries[1].functions.find((f: { name: string }) => f.name === 'lambdas/main/orders.zip').packageKey;
    const s3 = new S3Client({ region: 'us-east-1', endpoint: w.stack.s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    await s3.send(new DeleteObjectCommand({ Bucket: w.bucket, Key: key }));
    const missing = await runCli(['rollback'], { env: env(empty), cwd: empty });
    expect(missing.code, missing.output).toBe(1);
    expect(missing.output).toMatch(/Cannot restore history entry #2: .*orders\.zip.* is missing\. Nothing was changed/);
    expect(JSON.stringify(w.meta.lambdas())).toBe(snapshot);
    await rm(empty, { recursive: true });
  });
});

describe('promote', () => {
  it('review → production: same package keys and settings under production names, zero uploads', async () => {
    const dir = await projectWithPackages(['hello.zip', 'orders.zip']);
    const named = { GESTALT_NAME_TEMPLATE: '{project}/{env}/{file}' };
    const review = await runCli(['deploy'], { env: env(dir, { ...named, CI_ENVIRONMENT_SLUG: 'review-main', LAMBDA_MEMORY: '384', LAMBDA_TIMEOUT: '12' }), cwd: dir });
    expect(review.code, review.output).toBe(0);

    const empty = await emptyDir();
    const before = w.stack.proxy.requests.length;
    const production = { ...named, CI_ENVIRONMENT_NAME: 'production', CI_ENVIRONMENT_SLUG: 'production', GESTALT_PROMOTE_FROM: 'review/main', LAMBDA_ARTIFACTS: undefined };
    const r = await runCli(['promote'], { env: env(empty, production), cwd: empty });
    expect(r.code, r.output).toBe(0);
    expect(uploads(before)).toEqual([]);
    const byName = (n: string) => w.meta.lambdas().find((l) => l.name === n);
    for (const file of ['hello.zip', 'orders.zip']) {
      const src = byName(`lambdas/review-main/${file}`);
      const dst = byName(`lambdas/production/${file}`);
      expect(dst, file).toBeDefined();
      for (const p of ['package_url', 'memory', 'timeout', 'cpus', 'handler', 'runtime', 'public', 'env']) expect(dst.properties[p], p).toEqual(src.properties[p]);
      expect(dst.properties.memory).toBe(384);
    }
    expect(r.files.json.functions.map((f: { action: string }) => f.action)).toEqual(['created', 'created']);
    await runCli(['history'], { env: env(empty, production), cwd: empty });
    const entries = (await readJson(empty, 'gestalt-history.json')).history;
    expect(entries[0]).toMatchObject({ number: 1, command: 'promote', from: 'review/main#1' });

    const none = await runCli(['promote'], { env: env(empty, { ...production, GESTALT_PROMOTE_FROM: 'staging' }), cwd: empty });
    expect(none.code, none.output).toBe(2);
    expect(none.output).toMatch(/GESTALT_PROMOTE_FROM: environment 'staging' has no deployment history/);
  });
});

describe('verify', () => {
  it('200 passes, 500 and too slow fail by name, a warming endpoint passes on retry; GESTALT_VERIFY_ROLLBACK restores the previous packages', async () => {
    let warmHits = 0;
    const server = createServer((req, res) => {
      const path = req.url ?? '';
      const answer = (status: number, body: string) => res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
      if (path.includes('bad')) return answer(500, 'boom');
      if (path.includes('slow')) return void setTimeout(() => answer(200, 'late'), 1500);
      if (path.includes('warm')) return answer(++warmHits < 3 ? 503 : 200, 'warm');
      return answer(200, 'hello world');
    });
    const { url, close } = await serveLoopback(server);
    try {
      // Endpoints whose public URLs point at the server above.
      await w.restart({ gatewayUrl: url });
      const dir = await projectWithPackages(['ok.zip', 'bad.zip', 'slow.zip', 'warm.zip']);
      await writeFile(join(dir, 'gestalt-deploy.yml'), 'functions:\n  - artifact: dist/ok.zip\n    verify: { path: /health, status: 200, body: world }\n');
      expect((await runCli(['deploy'], { env: env(dir), cwd: dir })).code).toBe(0);
      const first = packageUrls();
      await writeFile(join(dir, 'dist/bad.zip'), 'PK-bad-v2');
      expect((await runCli(['deploy'], { env: env(dir, { CI_COMMIT_SHA: SHAS[1] }), cwd: dir })).code).toBe(0);
      expect(packageUrls()).not.toEqual(first);

      const empty = await emptyDir();
      const quick = { GESTALT_HTTP_TIMEOUT: '1', GESTALT_VERIFY_TIMEOUT: '4', LAMBDA_ARTIFACTS: undefined };
      const r = await runCli(['verify'], { env: env(empty, quick), cwd: empty });
      expect(r.code, r.output).toBe(1);
      const checks = (await readJson(empty, 'gestalt-verify.json')).checks as { name: string; ok: boolean; url: string }[];
      expect(Object.fromEntries(checks.map((c) => [c.name.replace('lambdas/main/', ''), c.ok]))).toEqual({ 'ok.zip': true, 'bad.zip': false, 'slow.zip': false, 'warm.zip': true });
      expect(checks.find((c) => c.name.endsWith('ok.zip'))?.url).toMatch(/\/ok\.zip\/health$/);
      expect(r.output).toMatch(/verify failed for 'lambdas\/main\/bad\.zip', 'lambdas\/main\/slow\.zip'/);
      expect(packageUrls()).not.toEqual(first);

      const back = await runCli(['verify'], { env: env(empty, { ...quick, GESTALT_VERIFY_ROLLBACK: 'true' }), cwd: empty });
      expect(back.code, back.output).toBe(1);
      expect(back.output).toMatch(/rolling back to the previous deployment/);
      expect(packageUrls()).toEqual(first);
    } finally {
      await close();
    }
  });
});
