// MetaSession.deploy in-process against the Meta emulator: the exact writes of a first deploy, a redeploy and a
// change, and what a lost or refused create leads to.
import { describe, expect, it } from 'vitest';
import { GF_BASIC, JOB, packageUrl, rejection } from './fixtures.js';
import { DEPLOY_LOOKUPS, ENDPOINT_LOOKUP, GATEWAY, inWorld, openDeploy, request, worldPerTest, type MetaWorld } from './meta-world.js';

const NAME = 'lambdas/main/a.zip';
const LAMBDAS = 'POST /root/environments/{env}/lambdas';
const ENDPOINTS = 'POST /root/apis/{api}/apiendpoints';
const BOGUS = '5a1f0f3e-0000-4000-8000-000000000000';
let world: MetaWorld;
worldPerTest((w) => (world = w));

const posts = (suffix: string) => world.meta.requests.filter((r) => r.method === 'POST' && r.path.endsWith(suffix));

describe('MetaSession.deploy: the writes', () => {
  it('a new function is one lambda create and one endpoint create, with the payloads the original sent', async () => {
    const session = await openDeploy(world);
    const result = await session.deploy(request('a.zip'));
    const [lambda] = world.meta.lambdas();
    const [endpoint] = world.meta.endpoints();
    expect(result).toEqual({ action: 'created', changed: undefined, endpoint: 'created', id: lambda.id, endpointIds: [endpoint.id], url: `${GATEWAY}/dev1/${NAME}` });
    expect(world.writes()).toEqual([LAMBDAS, ENDPOINTS]);
    expect(posts('/lambdas')[0]?.body).toEqual({
      name: NAME,
      description: 'deploy by gitlab, ref main, sha 0123abcd',
      properties: {
        provider: { id: world.providerId, locations: [] },
        public: true,
        cpus: 0.1,
        memory: 512,
        timeout: 30,
        code_type: 'package',
        package_url: packageUrl('a.zip'),
        compressed: true,
        headers: { Accept: 'text/plain' },
        periodic_info: {},
        handler: 'index.handler',
        runtime: 'nodejs',
        env: {},
      },
    });
    expect(posts('/apiendpoints')[0]?.body).toEqual({ name: NAME, properties: { implementation_type: 'lambda', implementation_id: lambda.id, resource: `/${NAME}`, methods: ['GET', 'POST'] } });
    expect(world.meta.lambdas()).toHaveLength(1);
    expect(world.meta.endpoints()).toHaveLength(1);
  });

  it('a redeploy of the same package (a fresh presigned signature) writes nothing', async () => {
    const [first] = await world.deployed(['a.zip']);
    const session = await openDeploy(world);
    const result = await session.deploy(request('a.zip', { packageUrl: packageUrl('a.zip', 'another-signature') }));
    expect(result).toEqual({ action: 'unchanged', changed: [], endpoint: 'existing', id: first?.id, endpointIds: [first?.endpointId], url: `${GATEWAY}/dev1/${NAME}` });
    expect(world.writes()).toEqual([]);
  });

  it('a change is one PATCH of exactly the changed fields, the description riding along with the new commit', async () => {
    const [first] = await world.deployed(['a.zip']);
    const session = await world.target({}, { job: { ...JOB, sha: 'fedcba9876543210' } }).open({ api: 'dev1', environmentId: world.envId }, 'deploy');
    const result = await session.deploy(request('a.zip', { fn: { ...request('a.zip').fn, memory: 256, env: { STAGE: 'review' } } }));
    expect(result).toMatchObject({ action: 'updated', changed: ['memory', 'env'], endpoint: 'existing', id: first?.id });
    expect(world.writes({ [first?.id ?? '']: '{a}' })).toEqual(['PATCH /root/environments/{env}/lambdas/{a}']);
    expect(world.meta.requests.find((r) => r.method === 'PATCH')?.body).toEqual([
      { op: 'replace', path: '/description', value: 'deploy by gitlab, ref main, sha fedcba98' },
      { op: 'replace', path: '/properties/memory', value: 256 },
      { op: 'replace', path: '/properties/env', value: { STAGE: 'review' } },
    ]);
    expect(world.meta.lambdas()[0].properties).toMatchObject({ memory: 256, env: { STAGE: 'review' } });
  });

  it('a lambda whose endpoint is missing gets only the endpoint', async () => {
    const [first] = await world.deployed(['a.zip']);
    await fetch(`${world.meta.url}/root/apiendpoints/${first?.endpointId}`, { method: 'DELETE', headers: { authorization: `Basic ${GF_BASIC}` } });
    world.meta.clearRequests();
    const result = await (await openDeploy(world)).deploy(request('a.zip'));
    expect(result).toMatchObject({ action: 'unchanged', endpoint: 'created', id: first?.id });
    expect(world.writes()).toEqual([ENDPOINTS]);
  });

  it('Meta 1.5 (no public_url) gets the URL from GESTALT_GATEWAY_URL, the API and the resource', async () => {
    await inWorld({ version: '1.5' }, async (old) => {
      const result = await (await openDeploy(old)).deploy(request('a.zip'));
      expect(old.meta.endpoints()[0].properties.public_url).toBeUndefined();
      expect(result.url).toBe(`${GATEWAY}/dev1/${NAME}`);
    });
  });
});

describe('MetaSession.deploy: creates are not repeated blindly', () => {
  it('a lambda create whose answer was lost is looked up, found and used: no second create', async () => {
    const session = await openDeploy(world);
    world.meta.clearRequests();
    world.meta.injectFailure({ kind: 'reset', afterHandling: true, match: (r) => r.method === 'POST' && r.path.endsWith('/lambdas') });
    const result = await session.deploy(request('a.zip'));
    const [lambda] = world.meta.lambdas();
    expect(world.meta.lambdas()).toHaveLength(1);
    expect(result).toMatchObject({ action: 'created', endpoint: 'created', id: lambda.id });
    expect(world.calls({ [lambda.id]: '{a}' })).toEqual([LAMBDAS, `GET /root/environments/{env}/lambdas?expand=true&name=${NAME}`, ENDPOINTS]);
    expect(world.collected.lines).toContain(`  create lambda '${NAME}': the create's answer was lost but Meta stored it (${lambda.id}); using it`);
    expect(world.collected.lines.some((l) => /^ {2}create lambda '.*': connection failed \(\w+\); checking what Meta stored, retry 1 in \d+ ms$/.test(l))).toBe(true);
  });

  it('an endpoint create whose answer was lost is looked up by its lambda: one endpoint', async () => {
    const session = await openDeploy(world);
    world.meta.clearRequests();
    world.meta.injectFailure({ kind: 'reset', afterHandling: true, match: (r) => r.method === 'POST' && r.path.endsWith('/apiendpoints') });
    const result = await session.deploy(request('a.zip'));
    const [lambda] = world.meta.lambdas();
    const [endpoint] = world.meta.endpoints();
    expect(world.meta.endpoints()).toHaveLength(1);
    expect(result.endpointIds).toEqual([endpoint.id]);
    expect(world.calls({ [lambda.id]: '{a}' })).toEqual([LAMBDAS, ENDPOINTS, 'GET /root/apiendpoints?expand=true&implementation_type=lambda&implementation_id={a}']);
  });

  it('a create refused with 503 before Meta stored anything is looked up, not found, and sent again', async () => {
    const session = await openDeploy(world);
    world.meta.clearRequests();
    world.meta.injectFailure({ kind: 'status', status: 503, match: (r) => r.method === 'POST' && r.path.endsWith('/lambdas') });
    const result = await session.deploy(request('a.zip'));
    expect(result.action).toBe('created');
    expect(world.calls()[1]).toBe(`GET /root/environments/{env}/lambdas?expand=true&name=${NAME}`);
    expect(posts('/lambdas').map((r) => r.status)).toEqual([503, 201]);
    expect(world.meta.lambdas()).toHaveLength(1);
  });

  // Bug: the lookup after a lost answer treats its own failure as "nothing stored" (`.catch(() => [])` in
  // MetaSession.createLambda) and creates again, so a lookup that fails after a create that landed duplicates it.
  it.fails('a lost create whose lookup also fails does not create a second lambda', async () => {
    const session = await openDeploy(world);
    world.meta.injectFailure({ kind: 'reset', afterHandling: true, match: (r) => r.method === 'POST' && r.path.endsWith('/lambdas') });
    world.meta.injectFailure({ kind: 'status', status: 503, count: 3, match: (r) => r.method === 'GET' && r.path.endsWith('/lambdas') });
    await session.deploy(request('a.zip')).catch(() => undefined);
    expect(world.meta.lambdas().filter((l) => l.name === NAME)).toHaveLength(1);
  });

  it('a leftover lambda in state Failed is deleted (endpoints first) and replaced, never duplicated', async () => {
    const failed = await fetch(`${world.meta.url}/root/environments/${world.envId}/lambdas`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${GF_BASIC}` },
      body: JSON.stringify({ name: NAME, properties: { runtime: 'nodejs' } }),
    });
    expect(failed.status).toBe(400);
    const leftover = world.meta.lambdas()[0];
    expect(leftover.resource_state).toMatch(/Failed$/);
    world.meta.clearRequests();
    const result = await (await openDeploy(world)).deploy(request('a.zip'));
    const [lambda] = world.meta.lambdas();
    expect(world.meta.lambdas()).toHaveLength(1);
    expect(lambda.resource_state).toMatch(/Active$/);
    expect(result).toMatchObject({ action: 'created', id: lambda.id });
    const calls = world.calls({ [leftover.id]: '{failed}', [lambda.id]: '{a}' });
    expect([...calls.slice(0, 3).sort(), calls[3]]).toEqual([...[...DEPLOY_LOOKUPS].sort(), ENDPOINT_LOOKUP]);
    expect(calls.slice(4)).toEqual([
      'GET /root/apiendpoints?expand=true&implementation_type=lambda&implementation_id={failed}',
      'DELETE /root/environments/{env}/lambdas/{failed}',
      LAMBDAS,
      ENDPOINTS,
    ]);
    expect(world.collected.lines).toContain(`  ${NAME}: replacing a leftover lambda in state Failed (${leftover.id})`);
  });
});

describe('MetaSession.deploy: refusals are one sentence and leave nothing behind', () => {
  it('a create the key may not make (409 policy) names the entitlements; it is not retried', async () => {
    world.meta.setPolicy((r) => r.method === 'POST');
    const err = await rejection((await openDeploy(world)).deploy(request('a.zip')));
    expect(err.message).toBe(`Gestalt Meta did not permit create lambda '${NAME}' (HTTP 409: You do not have permission to perform this action. Failed: 'lambda.create'); grant the API key's account the create/update/delete entitlements for lambdas and API endpoints in that environment, or lift the policy.`);
    expect(posts('/lambdas')).toHaveLength(1);
    expect(world.meta.lambdas()).toEqual([]);
  });

  it('an unknown GESTALT_LAMBDA_PROVIDER_ID (404 on Meta 2.4) is named with where to find one', async () => {
    const session = await world.target({ providerId: BOGUS }).open({ api: 'dev1', environmentId: world.envId }, 'deploy');
    const err = await rejection(session.deploy(request('a.zip')));
    expect(err.message).toBe(`GESTALT_LAMBDA_PROVIDER_ID ${BOGUS} is not a Lambda provider in org 'root' (Meta: Provider with ID '${BOGUS}' not found.); use the id of a Lambda provider (GET /root/providers?type=Lambda).`);
    expect(world.meta.lambdas()).toEqual([]);
  });

  it('Meta 1.5 answers an unknown provider with 422: the provider is checked before the payload is blamed', async () => {
    await inWorld({ version: '1.5' }, async (old) => {
      const session = await old.target({ providerId: BOGUS }).open({ api: 'dev1', environmentId: old.envId }, 'deploy');
      old.meta.clearRequests();
      const err = await rejection(session.deploy(request('a.zip')));
      expect(err.message).toBe(`GESTALT_LAMBDA_PROVIDER_ID ${BOGUS} is not a Lambda provider in org 'root' (Meta: Invalid Lambda provider ID '${BOGUS}'.); use the id of a Lambda provider (GET /root/providers?type=Lambda).`);
      expect(old.calls({ [BOGUS]: '{bogus}' })).toEqual([LAMBDAS, 'GET /root/providers/{bogus}']);
    });
  });

  it('a payload Meta cannot parse (400) quotes Meta\'s reason', async () => {
    const session = await openDeploy(world);
    const err = await rejection(session.deploy(request('a.zip', { fn: { ...request('a.zip').fn, memory: 0.5 } })));
    expect(err.message).toBe(`Gestalt Meta rejected the request to create lambda '${NAME}' (HTTP 400: Failed to parse payload: /properties/memory: error.expected.int).`);
    expect(posts('/lambdas')).toHaveLength(1);
  });
});
