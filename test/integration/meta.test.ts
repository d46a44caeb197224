import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MetaEmulator } from '../support/meta-emulator.js';
import { assertNoSecrets, makeProject, type CliResult } from '../support/run-cli.js';
import { calls, GATEWAY, isWrite, metaJobEnv, recordingRunner, startMetaWorld, type MetaWorld } from './meta-setup.js';
import { AWS_SECRET, GF_SECRET, projectWithPackages, s3Env, startS3Stack, type S3Stack } from './setup.js';

let stack: S3Stack;
let world: MetaWorld;
let meta: MetaEmulator;
let envId: string;
let providerId: string;
let bucket: string;
const outputs: CliResult[] = [];
const run = recordingRunner(outputs);

beforeAll(async () => {
  stack = await startS3Stack();
});
afterAll(async () => {
  await stack.close();
  const basic = Buffer.from(`gf-key:${GF_SECRET}`).toString('base64');
  assertNoSecrets(outputs.flatMap((o) => [o.output, o.files.env, JSON.stringify(o.files.json ?? {})]), [AWS_SECRET, GF_SECRET, basic, 'bearer-token-123456']);
});
beforeEach(async () => {
  world = await startMetaWorld(stack, { bearerTokens: ['bearer-token-123456'] });
  ({ meta, envId, providerId, bucket } = world);
});
afterEach(async () => {
  await meta.close();
});

const metaEnv = (dir: string, extra: Record<string, string | undefined> = {}) => metaJobEnv(stack, world, dir, { LAMBDA_ARTIFACTS: 'dist/*.zip', ...extra });

describe('meta mode: deploy', () => {
  it('first deploy: lookups once, 3 creates, 3 endpoint creates; unchanged redeploy writes nothing; a changed package is one PATCH', async () => {
    const dir = await projectWithPackages();
    const env = metaEnv(dir);
    const first = await run(['deploy'], env, dir);
    expect(first.code, first.output).toBe(0);

    const reads = meta.requests.filter((r) => !isWrite(r));
    expect(calls(reads).sort()).toEqual(['GET /root/apis/:id/apiendpoints', 'GET /root/environments/:id', 'GET /root/environments/:id/apis', 'GET /root/environments/:id/lambdas', 'GET /root/providers/:id'].sort());
    const writes = calls(meta.requests.filter(isWrite));
    expect(writes.filter((w) => w === 'POST /root/environments/:id/lambdas')).toHaveLength(3);
    expect(writes.filter((w) => w === 'POST /root/apis/:id/apiendpoints')).toHaveLength(3);
    expect(writes).toHaveLength(6);

    const lambdas = meta.lambdas();
    expect(lambdas.map((l) => l.name).sort()).toEqual(['lambdas/main/hello.zip', 'lambdas/main/orders.zip', 'lambdas/main/users.zip']);
    const hello = lambdas.find((l) => l.name === 'lambdas/main/hello.zip');
    expect(hello.properties).toMatchObject({ runtime: 'nodejs', handler: 'index.handler', code_type: 'package', compressed: true, memory: 512, cpus: 0.1, timeout: 30, public: true, provider: { id: providerId } });
    expect(hello.properties.package_url).toMatch(new RegExp(`/${bucket}/acme/lambdas/packages/[0-9a-f]{64}/hello\\.zip$`));
    expect(meta.endpoints().map((e) => [e.name, e.properties.resource, e.properties.implementation_id])).toContainEqual(['lambdas/main/hello.zip', '/lambdas/main/hello.zip', hello.id]);

    expect(first.files.env).toContain(`GESTALT_ENVIRONMENT_URL=${GATEWAY}/dev1/lambdas/main/hello.zip\n`);
    expect(first.files.annotations.gestalt_endpoints.map((l: { external_link: { url: string } }) => l.external_link.url).sort()).toEqual(
      ['hello.zip', 'orders.zip', 'users.zip'].map((f) => `${GATEWAY}/dev1/lambdas/main/${f}`),
    );
    expect(first.files.json.functions.map((f: { action: string; endpoint: string; id: string }) => [f.action, f.endpoint, typeof f.id])).toEqual(Array(3).fill(['created', 'created', 'string']));

    // Unchanged redeploy: lookups only.
    meta.clearRequests();
    const second = await run(['deploy'], env, dir);
    expect(second.code, second.output).toBe(0);
    expect(meta.requests.filter(isWrite)).toEqual([]);
    expect(second.files.json.functions.every((f: { action: string; endpoint: string }) => f.action === 'unchanged' && f.endpoint === 'existing')).toBe(true);

    // One changed package (from a new commit): exactly one PATCH, carrying the changed field and the new description.
    await writeFile(join(dir, 'dist/orders.zip'), 'PK-new-orders');
    meta.clearRequests();
    const third = await run(['deploy'], { ...env, CI_COMMIT_SHA: 'abcdef0123456789abcdef0123456789abcdef01' }, dir);
    expect(third.code, third.output).toBe(0);
    const patches = meta.requests.filter(isWrite);
    expect(calls(patches)).toEqual(['PATCH /root/environments/:id/lambdas/:id']);
    const ops = patches[0]?.body as { op: string; path: string; value: unknown }[];
    expect(ops.map((o) => o.path)).toEqual(['/description', '/properties/package_url']);
    expect(ops[0]?.value).toBe('deploy by gitlab, ref main, sha abcdef01');
    expect(String(ops[1]?.value)).toMatch(/\/orders\.zip$/);
    const orders = third.files.json.functions.find((f: { name: string }) => f.name === 'lambdas/main/orders.zip');
    expect(orders).toMatchObject({ action: 'updated', changed: ['package_url'] });
    expect(meta.lambdas()).toHaveLength(3);
  });

  it('authenticates with a bearer GESTALT_TOKEN', async () => {
    const dir = await projectWithPackages(['one.zip']);
    const r = await run(['deploy'], metaEnv(dir, { GF_API_KEY: undefined, GF_API_SECRET: undefined, GESTALT_TOKEN: 'bearer-token-123456' }), dir);
    expect(r.code, r.output).toBe(0);
    expect(meta.requests.every((q) => q.status !== 401)).toBe(true);
    expect(meta.lambdas()).toHaveLength(1);
  });

  it('a create that timed out after Meta stored it is not repeated: one lambda, not two', async () => {
    const dir = await projectWithPackages(['slow.zip']);
    meta.injectFailure({ kind: 'timeout', count: 1, afterHandling: true, match: (r) => r.method === 'POST' && r.path.endsWith('/lambdas') });
    const r = await run(['deploy'], metaEnv(dir, { GESTALT_HTTP_TIMEOUT: '1' }), dir);
    expect(r.code, r.output).toBe(0);
    expect(meta.lambdas().filter((l) => l.name === 'lambdas/main/slow.zip')).toHaveLength(1);
    expect(meta.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/lambdas'))).toHaveLength(1);
    expect(r.output).toMatch(/answer was lost but Meta stored it/);
    expect(meta.endpoints()).toHaveLength(1);
  });

  it('a create that failed with 503 before storing is retried once it is known to be absent', async () => {
    const dir = await projectWithPackages(['flaky.zip']);
    meta.injectFailure({ kind: 'status', status: 503, count: 1, match: (r) => r.method === 'POST' && r.path.endsWith('/lambdas') });
    const r = await run(['deploy'], metaEnv(dir), dir);
    expect(r.code, r.output).toBe(0);
    expect(meta.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/lambdas')).map((q) => q.status)).toEqual([503, 201]);
    expect(meta.lambdas()).toHaveLength(1);
  });

  it('replaces a leftover lambda in state Failed instead of duplicating it', async () => {
    const dir = await projectWithPackages(['fixme.zip']);
    // Meta stores a create with a missing required property as Failed.
    const res = await fetch(`${meta.url}/root/environments/${envId}/lambdas`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`gf-key:${GF_SECRET}`).toString('base64')}` },
      // A create of this environment's own (ownership-marked) that failed in Meta's backend.
      body: JSON.stringify({ name: 'lambdas/main/fixme.zip', properties: { runtime: 'nodejs' }, variables: { 'gestalt-deploy.project': 'acme/lambdas', 'gestalt-deploy.environment': 'review/main' } }),
    });
    expect(res.status).toBe(400);
    expect(meta.lambdas()[0].resource_state).toMatch(/Failed$/);
    const r = await run(['deploy'], metaEnv(dir), dir);
    expect(r.code, r.output).toBe(0);
    const all = meta.lambdas().filter((l) => l.name === 'lambdas/main/fixme.zip');
    expect(all).toHaveLength(1);
    expect(all[0].resource_state).toMatch(/Active$/);
  });
});

describe('meta mode: failures say one clear sentence and change nothing', () => {
  const cases: [string, (dir: string) => Record<string, string | undefined>, () => void, RegExp][] = [
    ['401 bad key', (dir) => metaEnv(dir, { GF_API_SECRET: 'not-the-secret' }), () => {}, /refused the credentials.*HTTP 401.*GF_API_KEY\/GF_API_SECRET/],
    ['409 policy', (dir) => metaEnv(dir), () => meta.setPolicy((r) => r.method === 'POST'), /did not permit create lambda 'lambdas\/main\/p\.zip' \(HTTP 409.*entitlements/],
    ['unknown API name', (dir) => metaEnv(dir, { LAMBDA_API: 'nope' }), () => {}, /LAMBDA_API 'nope' names no API in environment .*its APIs are: dev1/],
    ['unknown provider', (dir) => metaEnv(dir, { GESTALT_LAMBDA_PROVIDER_ID: '5a1f0f3e-0000-4000-8000-000000000000' }), () => {}, /GESTALT_LAMBDA_PROVIDER_ID 5a1f0f3e-.* is not a Lambda provider/],
    ['unknown environment', (dir) => metaEnv(dir, { LAMBDA_ENVIRONMENT_ID: '6b2f0f3e-0000-4000-8000-000000000000' }), () => {}, /LAMBDA_ENVIRONMENT_ID 6b2f0f3e-.* is not an environment in org 'root'/],
    ['unknown org', (dir) => metaEnv(dir, { GESTALT_ORG: 'nosuch' }), () => {}, /GESTALT_ORG 'nosuch' is not an org/],
  ];
  for (const [name, env, arrange, message] of cases) {
    it(name, async () => {
      const dir = await projectWithPackages(['p.zip']);
      arrange();
      const r = await run(['deploy'], env(dir), dir);
      expect(r.code).toBe(1);
      const errors = r.output.split('\n').filter((l) => l.startsWith('ERROR:'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(r.output).not.toMatch(/\n\s+at /);
      expect(meta.lambdas()).toEqual([]);
      expect(meta.endpoints()).toEqual([]);
      expect(await stack.s3.listKeys(bucket, 'acme/lambdas/deployments/')).toEqual([]);
    });
  }
});

describe('meta mode: stop', () => {
  it('with no checkout: endpoints deleted before lambdas, record removed; stop again does nothing', async () => {
    const dir = await projectWithPackages(['a.zip', 'b.zip']);
    expect((await run(['deploy'], metaEnv(dir), dir)).code).toBe(0);
    const empty = await makeProject({});
    const stopEnv = s3Env(stack, bucket, { CI_PROJECT_DIR: empty, GESTALT_META_URL: meta.url, GESTALT_ORG: 'root', GF_API_KEY: 'gf-key', GF_API_SECRET: GF_SECRET });
    meta.clearRequests();
    const stop = await run(['stop'], stopEnv, empty);
    expect(stop.code, stop.output).toBe(0);
    expect(meta.lambdas()).toEqual([]);
    expect(meta.endpoints()).toEqual([]);
    const deletes = meta.requests.filter((r) => r.method === 'DELETE');
    expect(deletes).toHaveLength(4);
    for (const lambdaDelete of deletes.filter((d) => d.path.includes('/lambdas/'))) {
      const id = lambdaDelete.path.split('/').pop();
      const endpointDeletes = meta.requests.filter((r) => r.method === 'DELETE' && r.path.includes('/apiendpoints/'));
      const listForLambda = meta.requests.findIndex((r) => r.method === 'GET' && r.query.implementation_id?.[0] === id);
      expect(listForLambda).toBeGreaterThanOrEqual(0);
      expect(meta.requests.indexOf(lambdaDelete)).toBeGreaterThan(Math.max(...endpointDeletes.map((e) => meta.requests.indexOf(e)).filter((i) => i > listForLambda).slice(0, 1)));
    }
    expect(await stack.s3.listKeys(bucket, 'acme/lambdas/deployments/')).toEqual([]);
    expect(stop.files.json.functions.map((f: { action: string }) => f.action)).toEqual(['removed', 'removed']);

    meta.clearRequests();
    const again = await run(['stop'], stopEnv, empty);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toMatch(/Nothing to stop/);
    expect(meta.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
  });

  it('without a record, finds this ref\'s functions by name prefix and removes only those', async () => {
    const dir = await projectWithPackages(['a.zip']);
    expect((await run(['deploy'], metaEnv(dir), dir)).code).toBe(0);
    const other = await projectWithPackages(['z.zip']);
    expect((await run(['deploy'], metaEnv(other, { CI_COMMIT_REF_SLUG: 'other', CI_ENVIRONMENT_NAME: 'review/other' }), other)).code).toBe(0);
    await stack.s3.client.send(new (await import('@aws-sdk/client-s3')).DeleteObjectCommand({ Bucket: bucket, Key: 'acme/lambdas/deployments/review/main.json' }));
    const empty = await makeProject({});
    const r = await run(['stop'], s3Env(stack, bucket, { CI_PROJECT_DIR: empty, GESTALT_META_URL: meta.url, GESTALT_ORG: 'root', GF_API_KEY: 'gf-key', GF_API_SECRET: GF_SECRET, LAMBDA_ENVIRONMENT_ID: envId }), empty);
    expect(r.code, r.output).toBe(0);
    expect(meta.lambdas().map((l) => l.name)).toEqual(['lambdas/other/z.zip']);
    expect(meta.endpoints().map((e) => e.name)).toEqual(['lambdas/other/z.zip']);
  });
});

describe('meta mode: plan and per-function configuration', () => {
  it('plan lists create, update with the changed fields, unchanged, endpoint to create — without writing', async () => {
    const dir = await projectWithPackages(['a.zip', 'b.zip']);
    expect((await run(['deploy'], metaEnv(dir), dir)).code).toBe(0);
    await writeFile(join(dir, 'dist/b.zip'), 'PK-b2');
    await writeFile(join(dir, 'dist/c.zip'), 'PK-c');
    meta.clearRequests();
    const r = await run(['plan'], metaEnv(dir, { LAMBDA_MEMORY: undefined }), dir);
    expect(r.code, r.output).toBe(0);
    expect(meta.requests.filter(isWrite)).toEqual([]);
    const plan = JSON.parse(await readFile(join(dir, 'gestalt-plan.json'), 'utf8'));
    expect(plan.functions.map((f: { name: string; action: string; endpoint: string; changed?: string[] }) => [f.name, f.action, f.endpoint, f.changed ?? []])).toEqual([
      ['lambdas/main/a.zip', 'unchanged', 'existing', []],
      ['lambdas/main/b.zip', 'update', 'existing', ['package_url']],
      ['lambdas/main/c.zip', 'create', 'create', []],
    ]);
    expect(r.output).toMatch(/lambdas\/main\/b\.zip\s+would upload\s+\S+ B\s+update\s+package_url\s+existing/);
  });

  it('gestalt-deploy.yml sets runtime, handler, sizing, env and methods per function; LAMBDA_* are the defaults', async () => {
    const dir = await projectWithPackages(['api.zip', 'worker.zip']);
    await writeFile(
      join(dir, 'gestalt-deploy.yml'),
      [
        'defaults:',
        '  memory: 256',
        'functions:',
        '  - artifact: dist/api.zip',
        '    handler: api.main',
        '    methods: [GET]',
        '    env:',
        '      STAGE: $CI_ENVIRONMENT_NAME',
        '      LITERAL: "cost $$5"',
        '  - artifact: dist/worker.zip',
        '    name: "{project}/{ref}/worker"',
        '    runtime: python3',
        '    timeout: 120',
        '    cpus: 0.5',
        '    public: false',
      ].join('\n'),
    );
    const r = await run(['deploy'], metaEnv(dir, { LAMBDA_ARTIFACTS: undefined }), dir);
    expect(r.code, r.output).toBe(0);
    const byName = Object.fromEntries(meta.lambdas().map((l) => [l.name, l.properties]));
    expect(byName['lambdas/main/api.zip']).toMatchObject({ runtime: 'nodejs', handler: 'api.main', memory: 256, timeout: 30, env: { STAGE: 'review/main', LITERAL: 'cost $5' } });
    expect(byName['lambdas/main/worker']).toMatchObject({ runtime: 'python3', handler: 'index.handler', memory: 256, timeout: 120, cpus: 0.5, public: false });
    expect(meta.endpoints().find((e) => e.name === 'lambdas/main/api.zip')?.properties.methods).toEqual(['GET']);
    expect(meta.endpoints().find((e) => e.name === 'lambdas/main/worker')?.properties.methods).toEqual(['GET', 'POST']);
  });

  it('a bad functions file fails with line-numbered problems before anything remote', async () => {
    const dir = await projectWithPackages(['api.zip']);
    await writeFile(join(dir, 'fns.yml'), ['functions:', '  - artifact: dist/api.zip', '    memry: 256', '    timeout: soon', '  - handler: x', '    env:', '      STAGE: $NOT_SET_ANYWHERE'].join('\n'));
    const r = await run(['deploy'], metaEnv(dir, { GESTALT_CONFIG: 'fns.yml' }), dir);
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/fns\.yml:3: unknown setting 'memry'/);
    expect(r.output).toMatch(/fns\.yml:4: timeout: must be a positive whole number/);
    expect(r.output).toMatch(/fns\.yml:5: artifact: is required/);
    expect(r.output).toMatch(/fns\.yml:7: env: STAGE references \$NOT_SET_ANYWHERE/);
    expect(meta.requests).toEqual([]);
    expect(stack.proxy.requests.filter((q) => q.path.includes(bucket))).toEqual([]);
    await rm(join(dir, 'fns.yml'));
  });
});

describe('meta mode: round trips', () => {
  it('20 functions with 50 ms per request: ≤ 5 lookups + 40 writes, in parallel', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `fn${String(i).padStart(2, '0')}.zip`);
    const dir = await projectWithPackages(names);
    meta.setLatency(50);
    const started = performance.now();
    const r = await run(['deploy'], metaEnv(dir), dir);
    const elapsed = performance.now() - started;
    expect(r.code, r.output).toBe(0);
    const reads = meta.requests.filter((q) => !isWrite(q));
    const writes = meta.requests.filter(isWrite);
    // Org+environment, APIs, lambdas and provider side by side, then the API's endpoints.
    expect(reads.length).toBeLessThanOrEqual(5);
    expect(writes).toHaveLength(40);
    expect(meta.lambdas()).toHaveLength(20);
    const serialMs = meta.requests.length * 50;
    // Printed, not asserted: the time budget lives in `npm run bench`.
    console.log(`[meta 20 functions] ${reads.length} lookups + ${writes.length} writes in ${Math.round(elapsed)} ms (whole run); one after another the Meta calls alone would take ≥ ${serialMs} ms`);
  });
});
