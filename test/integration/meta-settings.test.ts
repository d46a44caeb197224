// The rest of Gestalt's settings, through the bundle against the Meta emulator: secrets, schedule, headers,
// pre_warm, isolate and endpoint options are created in exactly Meta's shapes, kept up to date with minimal
// PATCHes, checked before any write, and shown by plan with their current and new values.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MetaEmulator } from '../support/meta-emulator.js';
import { assertNoSecrets, type CliResult } from '../support/run-cli.js';
import { calls, GATEWAY, isWrite, metaJobEnv, recordingRunner, startMetaWorld, type MetaWorld } from './meta-setup.js';
import { AWS_SECRET, GF_SECRET, projectWithPackages, s3Writes, startS3Stack, type S3Stack } from './setup.js';

let stack: S3Stack;
let world: MetaWorld;
let meta: MetaEmulator;
let envId: string;
let otherEnvId: string;
let providerId: string;
const outputs: CliResult[] = [];
const run = recordingRunner(outputs);

beforeAll(async () => {
  stack = await startS3Stack();
});
afterAll(async () => {
  await stack.close();
  assertNoSecrets(outputs.flatMap((o) => [o.output, o.files.env, JSON.stringify(o.files.json ?? {})]), [AWS_SECRET, GF_SECRET]);
});
beforeEach(async () => {
  world = await startMetaWorld(stack);
  ({ meta, envId, providerId } = world);
  otherEnvId = meta.seedEnvironment({ name: 'prod' });
});
afterEach(async () => {
  await meta.close();
});

const metaEnv = (dir: string, extra: Record<string, string | undefined> = {}) => metaJobEnv(stack, world, dir, extra);

/** The functions file of the full example; `endpoint` lines replaceable so later deploys change only them. */
function fullFile(endpoint = ['    methods: [GET, POST]', '    rate_limit_per_minute: 60']): string {
  return [
    'functions:',
    '  - artifact: dist/api.zip',
    '    handler: api.main',
    '    secrets:',
    '      - name: db-credentials',
    '        key: password',
    '        env: DB_PASSWORD',
    '      - name: tls',
    '        key: cert.pem',
    '        file: /etc/tls/cert.pem',
    '    schedule:',
    '      interval: R/2024-01-01T02:00:00Z/PT1H',
    '      timezone: Europe/Berlin',
    '      event: hourly-report',
    '      data: {report: sales, top: 10}',
    '    headers:',
    '      Content-Type: application/json',
    '    pre_warm: 1',
    '    isolate: true',
    '    endpoint:',
    ...endpoint.map((l) => `  ${l}`),
    '      synchronous: true',
    '      is_http_aware: true',
    '      hosts: [api.example.test]',
    '      gestalt_security: true',
  ].join('\n');
}

describe('meta mode: secrets, schedule, headers and endpoint options', () => {
  it('creates them in Meta\'s shapes, PATCHes only the changed endpoint fields, and writes nothing when unchanged', async () => {
    const dbId = meta.seedSecret(envId, { name: 'db-credentials', keys: ['username', 'password'] });
    const tlsId = meta.seedSecret(envId, { name: 'tls', keys: ['cert.pem', 'key.pem'] });
    const dir = await projectWithPackages(['api.zip']);
    await writeFile(join(dir, 'gestalt-deploy.yml'), fullFile());
    const env = metaEnv(dir);

    const first = await run(['deploy'], env, dir);
    expect(first.code, first.output).toBe(0);
    // The secrets and the lambda provider are read once, because a function mounts secrets.
    expect(calls(meta.requests.filter((r) => !isWrite(r))).sort()).toEqual(
      ['GET /root/apis/:id/apiendpoints', 'GET /root/environments/:id', 'GET /root/environments/:id/apis', 'GET /root/environments/:id/lambdas', 'GET /root/environments/:id/secrets', 'GET /root/providers/:id'].sort(),
    );
    const writes = meta.requests.filter(isWrite);
    expect(calls(writes)).toEqual(['POST /root/environments/:id/lambdas', 'POST /root/apis/:id/apiendpoints']);

    const lambdaBody = writes[0]?.body as { id: string; name: string; description: string; properties: Record<string, unknown>; variables: unknown };
    expect(Object.keys(lambdaBody).sort()).toEqual(['description', 'id', 'name', 'properties', 'variables']);
    expect(lambdaBody.name).toBe('lambdas/main/api.zip');
    const p = lambdaBody.properties;
    expect(Object.keys(p).sort()).toEqual(
      ['code_type', 'compressed', 'cpus', 'env', 'handler', 'headers', 'isolate', 'memory', 'package_url', 'periodic_info', 'pre_warm', 'provider', 'public', 'runtime', 'secrets', 'timeout'].sort(),
    );
    expect(p.secrets).toEqual([
      { mount_type: 'env', secret_id: dbId, path: 'DB_PASSWORD', secret_key: 'password' },
      { mount_type: 'file', secret_id: tlsId, path: '/etc/tls/cert.pem', secret_key: 'cert.pem' },
    ]);
    expect(p.periodic_info).toEqual({ schedule: 'R/2024-01-01T02:00:00Z/PT1H', timezone: 'Europe/Berlin', payload: { eventName: 'hourly-report', data: { report: 'sales', top: 10 } } });
    expect(p.headers).toEqual({ 'Content-Type': 'application/json' });
    expect(p.pre_warm).toBe(1);
    expect(p.isolate).toBe(true);
    expect(p.provider).toEqual({ id: providerId, locations: [] });
    expect(p).toMatchObject({ public: true, cpus: 0.1, memory: 512, timeout: 30, code_type: 'package', compressed: true, handler: 'api.main', runtime: 'nodejs', env: {} });

    const [lambda] = meta.lambdas();
    expect(lambda.resource_state).toMatch(/Active$/);
    expect(lambda.id).toBe(lambdaBody.id);
    const endpointBody = writes[1]?.body as { id: string; name: string; properties: Record<string, unknown> };
    expect(endpointBody).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      variables: lambdaBody.variables,
      name: 'lambdas/main/api.zip',
      properties: {
        implementation_type: 'lambda',
        implementation_id: lambda.id,
        resource: '/lambdas/main/api.zip',
        methods: ['GET', 'POST'],
        synchronous: true,
        is_http_aware: true,
        hosts: ['api.example.test'],
        plugins: { rateLimit: { enabled: true, perMinute: 60 }, gestaltSecurity: { enabled: true, users: [], groups: [] } },
      },
    });
    const [endpoint] = meta.endpoints();
    expect(endpoint.properties.upstream_url).toMatch(new RegExp(`/lambdas/${lambda.id}/invokeSyncHA$`));
    // With hosts, Meta's public URL is by host; it is the function's URL and the environment's.
    expect(first.files.env).toContain('GESTALT_ENVIRONMENT_URL=https://api.example.test/dev1/lambdas/main/api.zip\n');

    // A plan of the next change shows each field with its current and new value, and writes nothing.
    await writeFile(join(dir, 'gestalt-deploy.yml'), fullFile(['    methods: [GET]', '    rate_limit_per_minute: 120']));
    meta.clearRequests();
    const plan = await run(['plan'], env, dir);
    expect(plan.code, plan.output).toBe(0);
    expect(meta.requests.filter(isWrite)).toEqual([]);
    expect(plan.output).toMatch(/lambdas\/main\/api\.zip\s+would skip\s+unchanged\s+endpoint\.methods, endpoint\.rate_limit_per_minute\s+update/);
    expect(plan.output).toContain('lambdas/main/api.zip  endpoint.methods: ["GET","POST"] → ["GET"]');
    expect(plan.output).toContain('lambdas/main/api.zip  endpoint.rate_limit_per_minute: 60 → 120');
    const planJson = JSON.parse(await readFile(join(dir, 'gestalt-plan.json'), 'utf8'));
    expect(planJson.functions[0]).toMatchObject({ action: 'unchanged', endpoint: 'update', changes: [{ field: 'endpoint.methods' }, { field: 'endpoint.rate_limit_per_minute', from: '60', to: '120' }] });

    // Second deploy: exactly one write, the endpoint PATCH with the two changed fields.
    meta.clearRequests();
    const second = await run(['deploy'], env, dir);
    expect(second.code, second.output).toBe(0);
    const patches = meta.requests.filter(isWrite);
    expect(calls(patches)).toEqual(['PATCH /root/apiendpoints/:id']);
    expect(patches[0]?.path).toBe(`/root/apiendpoints/${endpoint.id}`);
    expect(patches[0]?.body).toEqual([
      { op: 'replace', path: '/properties/methods', value: ['GET'] },
      { op: 'replace', path: '/properties/plugins', value: { rateLimit: { enabled: true, perMinute: 120 }, gestaltSecurity: { enabled: true, users: [], groups: [] } } },
    ]);
    expect(second.files.json.functions[0]).toMatchObject({ action: 'unchanged', endpoint: 'updated' });
    expect(meta.endpoints()[0].properties).toMatchObject({ methods: ['GET'], plugins: { rateLimit: { enabled: true, perMinute: 120 } } });
    expect(second.output).toContain('endpoint.rate_limit_per_minute: 60 → 120');

    // Third deploy, unchanged (Meta has meanwhile filled gestaltSecurity's users): lookups only.
    meta.clearRequests();
    const third = await run(['deploy'], env, dir);
    expect(third.code, third.output).toBe(0);
    expect(meta.requests.filter(isWrite)).toEqual([]);
    expect(third.files.json.functions[0]).toMatchObject({ action: 'unchanged', endpoint: 'existing' });
  });

  it('a setting removed from the file is removed from the lambda: one PATCH, nothing else', async () => {
    meta.seedSecret(envId, { name: 'db-credentials', keys: ['password'] });
    meta.seedSecret(envId, { name: 'tls', keys: ['cert.pem'] });
    const dir = await projectWithPackages(['api.zip']);
    await writeFile(join(dir, 'gestalt-deploy.yml'), fullFile());
    expect((await run(['deploy'], metaEnv(dir), dir)).code).toBe(0);
    await writeFile(join(dir, 'gestalt-deploy.yml'), ['functions:', '  - artifact: dist/api.zip', '    handler: api.main', '    endpoint:', '      methods: [GET, POST]', '      rate_limit_per_minute: 60', '      is_http_aware: true', '      hosts: [api.example.test]', '      gestalt_security: true'].join('\n'));
    meta.clearRequests();
    const r = await run(['deploy'], metaEnv(dir), dir);
    expect(r.code, r.output).toBe(0);
    const writes = meta.requests.filter(isWrite);
    expect(calls(writes)).toEqual(['PATCH /root/environments/:id/lambdas/:id']);
    const ops = writes[0]?.body as { op: string; path: string; value?: unknown }[];
    expect(ops.map((o) => [o.op, o.path])).toEqual([
      ['replace', '/properties/headers'],
      ['replace', '/properties/periodic_info'],
      ['remove', '/properties/secrets'],
      ['remove', '/properties/pre_warm'],
      ['remove', '/properties/isolate'],
    ]);
    expect(ops[0]?.value).toEqual({ Accept: 'text/plain' });
    expect(ops[1]?.value).toEqual({});
    const props = meta.lambdas()[0].properties;
    expect(props).not.toHaveProperty('secrets');
    expect(props.periodic_info).toEqual({});
  });
});

describe('meta mode: the endpoint follows LAMBDA_METHODS, a Failed endpoint is replaced', () => {
  it('changing LAMBDA_METHODS is one endpoint PATCH of its methods', async () => {
    const dir = await projectWithPackages(['m.zip']);
    expect((await run(['deploy'], metaEnv(dir, { LAMBDA_ARTIFACTS: 'dist/*.zip', LAMBDA_METHODS: 'GET' }), dir)).code).toBe(0);
    const [endpoint] = meta.endpoints();
    expect(endpoint.properties.methods).toEqual(['GET']);
    meta.clearRequests();
    const r = await run(['deploy'], metaEnv(dir, { LAMBDA_ARTIFACTS: 'dist/*.zip', LAMBDA_METHODS: 'GET,PUT' }), dir);
    expect(r.code, r.output).toBe(0);
    const writes = meta.requests.filter(isWrite);
    expect(calls(writes)).toEqual(['PATCH /root/apiendpoints/:id']);
    expect(writes[0]?.body).toEqual([{ op: 'replace', path: '/properties/methods', value: ['GET', 'PUT'] }]);
    expect(meta.endpoints().map((e) => [e.id, e.properties.methods])).toEqual([[endpoint.id, ['GET', 'PUT']]]);
    expect(r.files.json.functions[0]).toMatchObject({ endpoint: 'updated', changes: [{ field: 'endpoint.methods', from: '["GET"]', to: '["GET","PUT"]' }] });
    // The same methods in another order are not a change.
    meta.clearRequests();
    expect((await run(['deploy'], metaEnv(dir, { LAMBDA_ARTIFACTS: 'dist/*.zip', LAMBDA_METHODS: 'PUT GET' }), dir)).code).toBe(0);
    expect(meta.requests.filter(isWrite)).toEqual([]);
  });

  it('an endpoint without this environment\'s ownership mark is not changed', async () => {
    const dir = await projectWithPackages(['m.zip']);
    expect((await run(['deploy'], metaEnv(dir, { LAMBDA_ARTIFACTS: 'dist/*.zip', LAMBDA_METHODS: 'GET' }), dir)).code).toBe(0);
    const [endpoint] = meta.endpoints();
    // As if someone had recreated it by hand: the same endpoint, without our mark.
    const stripped = await fetch(`${meta.url}/root/apiendpoints/${endpoint.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`gf-key:${GF_SECRET}`).toString('base64')}` },
      body: JSON.stringify([{ op: 'remove', path: '/variables' }]),
    });
    expect(stripped.status).toBe(200);
    meta.clearRequests();
    const r = await run(['deploy'], metaEnv(dir, { LAMBDA_ARTIFACTS: 'dist/*.zip', LAMBDA_METHODS: 'GET,PUT' }), dir);
    expect(r.code, r.output).toBe(0);
    expect(meta.requests.filter(isWrite)).toEqual([]);
    expect(r.output).toContain(`endpoint ${endpoint.id} is not updated: it carries no gestalt-deploy ownership mark`);
    expect(meta.endpoints()[0].properties.methods).toEqual(['GET']);
  });

  it('a Failed endpoint is deleted and created again (plan says replace); the lambda is left alone', async () => {
    const dir = await projectWithPackages(['f.zip']);
    const env = metaEnv(dir, { LAMBDA_ARTIFACTS: 'dist/*.zip' });
    expect((await run(['deploy'], env, dir)).code).toBe(0);
    const [failed] = meta.endpoints();
    meta.setResourceState(failed.id, 'Failed');

    meta.clearRequests();
    const plan = await run(['plan'], env, dir);
    expect(plan.code, plan.output).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'gestalt-plan.json'), 'utf8')).functions[0]).toMatchObject({ action: 'unchanged', endpoint: 'replace' });
    expect(meta.requests.filter(isWrite)).toEqual([]);

    const r = await run(['deploy'], env, dir);
    expect(r.code, r.output).toBe(0);
    const writes = meta.requests.filter(isWrite);
    expect(calls(writes)).toEqual(['DELETE /root/apiendpoints/:id', 'POST /root/apis/:id/apiendpoints']);
    expect(writes[0]?.path).toBe(`/root/apiendpoints/${failed.id}`);
    // Created again under the id the record already names.
    expect((writes[1]?.body as { id: string }).id).toBe(failed.id);
    const endpoints = meta.endpoints();
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0].resource_state).toMatch(/Active$/);
    expect(r.output).toMatch(/replacing its endpoint in state Failed/);
    expect(r.files.json.functions[0]).toMatchObject({ action: 'unchanged', endpoint: 'replaced', url: `${GATEWAY}/dev1/lambdas/main/f.zip` });
  });
});

describe('meta mode: a wrong setting is exit 2 with file:line, and nothing is written', () => {
  const cases: [string, string[], () => void, RegExp[], boolean][] = [
    [
      'unknown secret (checked against the environment)',
      ['functions:', '  - artifact: dist/p.zip', '    secrets:', '      - name: db-credentials', '        key: password', '        env: DB_PASSWORD', '      - name: nope', '        key: x', '        env: NOPE'],
      () => meta.seedSecret(envId, { name: 'db-credentials', keys: ['password'] }),
      [/gestalt-deploy\.yml:7: secret 'nope' does not exist in environment [0-9a-f-]{36}.*its secrets are: db-credentials/],
      true,
    ],
    [
      'a secret of another environment, by id',
      ['functions:', '  - artifact: dist/p.zip', '    secrets:', '      - id: 7a7a7a7a-0000-4000-8000-000000000001', '        directory: /etc/db'],
      () => meta.seedSecret(otherEnvId, { name: 'db', id: '7a7a7a7a-0000-4000-8000-000000000001', keys: ['a'] }),
      [/gestalt-deploy\.yml:4: no secret with id 7a7a7a7a-0000-4000-8000-000000000001 in environment .*own environment/],
      true,
    ],
    [
      'a missing item and a secret on another CaaS provider',
      ['functions:', '  - artifact: dist/p.zip', '    secrets:', '      - name: db', '        key: pasword', '        env: DB_PASSWORD', '  - artifact: dist/q.zip', '    secrets:', '      - name: far', '        key: k', '        file: /etc/k'],
      () => {
        meta.seedSecret(envId, { name: 'db', keys: ['password'] });
        meta.seedSecret(envId, { name: 'far', keys: ['k'], providerId: meta.seedLambdaProvider({ name: 'not-a-caas' }) });
      },
      [/gestalt-deploy\.yml:4: secret 'db' has no item 'pasword'; its items are: password/, /gestalt-deploy\.yml:9: secret 'far' is on CaaS provider .* but the lambda provider \(GESTALT_LAMBDA_PROVIDER_ID\) runs on /],
      true,
    ],
    [
      'malformed schedule',
      ['functions:', '  - artifact: dist/p.zip', '    schedule:', '      interval: every hour', '      timezone: Mars/Olympus', '  - artifact: dist/q.zip', '    schedule:', '      interval: R/2024-01-01T00:00:00Z/P1D'],
      () => {},
      [/gestalt-deploy\.yml:4: schedule: interval 'every hour' is not an ISO-8601 repeating interval/, /gestalt-deploy\.yml:5: schedule: timezone 'Mars\/Olympus' is not a time zone/, /gestalt-deploy\.yml:8: schedule: timezone: is missing/],
      false,
    ],
    [
      'wrong types and unknown keys',
      ['functions:', '  - artifact: dist/p.zip', '    pre_warm: two', '    isolate: "yes"', '    headers: [Accept]', '    endpoint:', '      synchronous: "no"', '      rate_limit_per_minute: -5', '      hosts: [not a host]', '      gestalt_securty: true', '    secrets:', '      - name: db', '        env: DB'],
      () => {},
      [
        /gestalt-deploy\.yml:3: pre_warm: must be a whole number/,
        /gestalt-deploy\.yml:4: isolate: must be true or false/,
        /gestalt-deploy\.yml:5: headers: must be a mapping/,
        /gestalt-deploy\.yml:7: endpoint: synchronous: must be true or false/,
        /gestalt-deploy\.yml:8: endpoint: rate_limit_per_minute must be a positive whole number/,
        /gestalt-deploy\.yml:9: endpoint: hosts must be a non-empty list of host names/,
        /gestalt-deploy\.yml:10: unknown endpoint key 'gestalt_securty'/,
        /gestalt-deploy\.yml:12: secrets: an env mount needs key:/,
      ],
      false,
    ],
  ];
  for (const [name, file, arrange, messages, remote] of cases) {
    it(name, async () => {
      const dir = await projectWithPackages(['p.zip', 'q.zip']);
      await writeFile(join(dir, 'gestalt-deploy.yml'), file.join('\n'));
      arrange();
      meta.clearRequests();
      const s3Before = stack.proxy.requests.length;
      const r = await run(['deploy'], metaEnv(dir), dir);
      expect(r.code, r.output).toBe(2);
      for (const m of messages) expect(r.output).toMatch(m);
      expect(r.output).toMatch(new RegExp(`configuration error \\(${messages.length} problems?\\); nothing was changed`));
      expect(r.output).not.toMatch(/\n\s+at /);
      // Local mistakes never reach Meta; remote ones are found with reads only. Nothing is uploaded either.
      if (remote) expect(meta.requests.length).toBeGreaterThan(0);
      else expect(meta.requests).toEqual([]);
      expect(meta.requests.filter(isWrite)).toEqual([]);
      expect(meta.lambdas()).toEqual([]);
      expect(s3Writes(stack, s3Before)).toEqual([]);
    });
  }
});
