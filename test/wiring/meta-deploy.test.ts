// MetaSession.deploy in-process against the Meta emulator: the exact writes of a first deploy, a redeploy and a
// change, and what a lost or refused create leads to.
import { describe, expect, it } from 'vitest';
import { NothingCreated } from '../../src/gestalt/types.js';
import { JOB, packaged, packageUrl, rejection } from './fixtures.js';
import { DEPLOY_LOOKUPS, deployTo, ENDPOINT_LOOKUP, GATEWAY, inWorld, MARKS, openDeploy, request, worldPerTest, type MetaWorld } from './meta-world.js';

const NAME = 'lambdas/main/a.zip';
const LAMBDAS = 'POST /root/environments/{env}/lambdas';
const ENDPOINTS = 'POST /root/apis/{api}/apiendpoints';
const BOGUS = '5a1f0f3e-0000-4000-8000-000000000000';
let world: MetaWorld;
worldPerTest((w) => (world = w));

const posts = (suffix: string) => world.meta.requests.filter((r) => r.method === 'POST' && r.path.endsWith(suffix));

describe('MetaSession.deploy: the writes', () => {
  it('a new function is one lambda create and one endpoint create, with the payloads the original sent, the ids the claim chose and the ownership mark', async () => {
    const session = await openDeploy(world);
    world.meta.clearRequests();
    const claim = session.claim(packaged('a.zip'));
    expect(world.meta.requests, 'a claim asks Meta nothing').toEqual([]);
    const result = await session.deploy({ ...request('a.zip'), claim });
    const [lambda] = world.meta.lambdas();
    const [endpoint] = world.meta.endpoints();
    expect([lambda.id, endpoint.id]).toEqual([claim.id, claim.endpointIds?.[0]]);
    expect(result).toEqual({ action: 'created', changed: undefined, endpoint: 'created', id: lambda.id, endpointIds: [endpoint.id], url: `${GATEWAY}/dev1/${NAME}` });
    expect(world.writes()).toEqual([LAMBDAS, ENDPOINTS]);
    expect(posts('/lambdas')[0]?.body).toEqual({
      id: claim.id,
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
      variables: MARKS,
    });
    expect(posts('/apiendpoints')[0]?.body).toEqual({ id: endpoint.id, name: NAME, properties: { implementation_type: 'lambda', implementation_id: lambda.id, resource: `/${NAME}`, methods: ['GET', 'POST'] }, variables: MARKS });
    expect([lambda.variables, endpoint.variables]).toEqual([MARKS, MARKS]);
    expect(world.meta.lambdas()).toHaveLength(1);
    expect(world.meta.endpoints()).toHaveLength(1);
  });

  it('a redeploy of the same package (a fresh presigned signature) writes nothing', async () => {
    const [first] = await world.deployed(['a.zip']);
    const session = await openDeploy(world);
    expect(session.claim(packaged('a.zip'))).toMatchObject({ id: first?.id, endpointIds: [first?.endpointId] });
    const result = await deployTo(session, 'a.zip', { packageUrl: packageUrl('a.zip', 'another-signature') });
    expect(result).toEqual({ action: 'unchanged', changed: [], endpoint: 'existing', id: first?.id, endpointIds: [first?.endpointId], url: `${GATEWAY}/dev1/${NAME}` });
    expect(world.writes()).toEqual([]);
  });

  it('a change is one PATCH of exactly the changed fields, the description riding along with the new commit', async () => {
    const [first] = await world.deployed(['a.zip']);
    const session = await world.target({}, { job: { ...JOB, sha: 'fedcba9876543210' } }).open({ api: 'dev1', environmentId: world.envId }, 'deploy');
    const result = await deployTo(session, 'a.zip', { fn: packaged('a.zip', { memory: 256, env: { STAGE: 'review' } }) });
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
    await world.admin('DELETE', `/apiendpoints/${first?.endpointId}`);
    world.meta.clearRequests();
    const result = await deployTo(await openDeploy(world), 'a.zip');
    expect(result).toMatchObject({ action: 'unchanged', endpoint: 'created', id: first?.id });
    expect(world.writes()).toEqual([ENDPOINTS]);
  });

  it('Meta 1.5 (no public_url) gets the URL from GESTALT_GATEWAY_URL, the API and the resource', async () => {
    await inWorld({ version: '1.5' }, async (old) => {
      const result = await deployTo(await openDeploy(old), 'a.zip');
      expect(old.meta.endpoints()[0].properties.public_url).toBeUndefined();
      expect(result.url).toBe(`${GATEWAY}/dev1/${NAME}`);
    });
  });
});

describe('MetaSession.deploy: creates are not repeated blindly', () => {
  it('a lambda create whose answer was lost is looked up by its chosen id, found and used: no second create', async () => {
    const session = await openDeploy(world);
    world.meta.clearRequests();
    world.meta.injectFailure({ kind: 'reset', afterHandling: true, match: (r) => r.method === 'POST' && r.path.endsWith('/lambdas') });
    const result = await deployTo(session, 'a.zip');
    const [lambda] = world.meta.lambdas();
    expect(world.meta.lambdas()).toHaveLength(1);
    expect(result).toMatchObject({ action: 'created', endpoint: 'created', id: lambda.id });
    expect(world.calls({ [lambda.id]: '{a}' })).toEqual([LAMBDAS, 'GET /root/environments/{env}/lambdas/{a}', ENDPOINTS]);
    expect(world.collected.lines).toContain(`  create lambda '${NAME}': the create's answer was lost but Meta stored it (${lambda.id}); using it`);
    expect(world.collected.lines).toContainEqual(expect.stringMatching(new RegExp(`^ {2}create lambda '.*': connection to \\S+ failed \\S+ an answer \\(\\w+\\); checking Meta for id ${lambda.id}, retry 1 in \\d+ ms$`)));
  });

  it('an endpoint create whose answer was lost is looked up by its chosen id: one endpoint', async () => {
    const session = await openDeploy(world);
    world.meta.clearRequests();
    world.meta.injectFailure({ kind: 'reset', afterHandling: true, match: (r) => r.method === 'POST' && r.path.endsWith('/apiendpoints') });
    const result = await deployTo(session, 'a.zip');
    const [endpoint] = world.meta.endpoints();
    expect(world.meta.endpoints()).toHaveLength(1);
    expect(result.endpointIds).toEqual([endpoint.id]);
    expect(world.calls({ [endpoint.id]: '{a-endpoint}' })).toEqual([LAMBDAS, ENDPOINTS, 'GET /root/apiendpoints/{a-endpoint}']);
  });

  it('a create refused with 503 before Meta stored anything is looked up, not found, and sent again with the same id', async () => {
    const session = await openDeploy(world);
    world.meta.clearRequests();
    world.meta.injectFailure({ kind: 'status', status: 503, match: (r) => r.method === 'POST' && r.path.endsWith('/lambdas') });
    const result = await deployTo(session, 'a.zip');
    expect(result.action).toBe('created');
    expect(world.calls({ [result.id ?? '']: '{a}' })[1]).toBe('GET /root/environments/{env}/lambdas/{a}');
    expect(posts('/lambdas').map((r) => [r.status, (r.body as { id?: string }).id])).toEqual([[503, result.id], [201, result.id]]);
    expect(world.meta.lambdas()).toHaveLength(1);
  });

  it('a lost create whose lookups also fail creates no second lambda and is not reported as nothing created', async () => {
    const session = await openDeploy(world);
    world.meta.injectFailure({ kind: 'reset', afterHandling: true, match: (r) => r.method === 'POST' && r.path.endsWith('/lambdas') });
    world.meta.injectFailure({ kind: 'status', status: 503, count: 100, match: (r) => r.method === 'GET' && r.path.includes('/lambdas/') });
    const err = await rejection(deployTo(session, 'a.zip'));
    expect(err).not.toBeInstanceOf(NothingCreated);
    expect(world.meta.lambdas().filter((l) => l.name === NAME)).toHaveLength(1);
    expect(posts('/lambdas')).toHaveLength(1);
  });

  it('a leftover lambda of ours in state Failed is deleted (endpoints first) and replaced, never duplicated', async () => {
    const failed = await world.admin('POST', `/environments/${world.envId}/lambdas`, { name: NAME, properties: { runtime: 'nodejs' }, variables: MARKS });
    expect(failed.status).toBe(400);
    const leftover = world.meta.lambdas()[0];
    expect(leftover.resource_state).toMatch(/Failed$/);
    world.meta.clearRequests();
    const result = await deployTo(await openDeploy(world), 'a.zip');
    const [lambda] = world.meta.lambdas();
    expect(world.meta.lambdas()).toHaveLength(1);
    expect(lambda.resource_state).toMatch(/Active$/);
    expect(result).toMatchObject({ action: 'created', id: lambda.id });
    const calls = world.calls({ [leftover.id]: '{failed}', [lambda.id]: '{a}' });
    expect([...calls.slice(0, 4).sort(), calls[4]]).toEqual([...[...DEPLOY_LOOKUPS].sort(), ENDPOINT_LOOKUP]);
    expect(calls.slice(5)).toEqual([
      'GET /root/apiendpoints?expand=true&implementation_type=lambda&implementation_id={failed}',
      'DELETE /root/environments/{env}/lambdas/{failed}',
      LAMBDAS,
      ENDPOINTS,
    ]);
    expect(world.collected.lines).toContain(`  ${NAME}: replacing a leftover lambda in state Failed (${leftover.id})`);
  });
});

describe('MetaSession.deploy: only what is provably this environment\'s is changed', () => {
  const refusedBecause = (id: string, why: string) =>
    `Refused to deploy '${NAME}': a lambda named '${NAME}' (${id}) already exists in environment ${world.envId} and ${why}; it was left alone. Remove or rename it in Gestalt, or change GESTALT_NAME_TEMPLATE.`;

  it('a lambda of that name made by hand (no mark) is refused, even when it is Failed, and nothing is written', async () => {
    await world.admin('POST', `/environments/${world.envId}/lambdas`, { name: NAME, properties: { runtime: 'nodejs' } });
    const [leftover] = world.meta.lambdas();
    world.meta.clearRequests();
    const session = await openDeploy(world);
    const claim = session.claim(packaged('a.zip'));
    expect(claim).toEqual({ refused: expect.stringContaining('carries no gestalt-deploy ownership mark') });
    const err = await rejection(session.deploy({ ...request('a.zip'), claim }));
    expect(err.message).toBe(refusedBecause(leftover.id, 'it carries no gestalt-deploy ownership mark (created by hand or by another tool)'));
    expect(world.writes()).toEqual([]);
    expect(world.meta.lambdas()).toEqual([leftover]);
  });

  it('a lambda of that name marked for another environment is refused, not patched', async () => {
    const other = await world.target({}, { job: { ...JOB, environment: 'review/other' } }).open({ api: 'dev1', environmentId: world.envId }, 'deploy');
    const theirs = await deployTo(other, 'a.zip');
    world.meta.clearRequests();
    const err = await rejection(deployTo(await openDeploy(world), 'a.zip', { fn: packaged('a.zip', { memory: 256 }) }));
    expect(err.message).toBe(refusedBecause(theirs.id ?? '', `its ownership mark names environment "review/other", not '${JOB.environment}'`));
    expect(world.writes()).toEqual([]);
    expect(world.meta.lambdas()[0]?.properties.memory).toBe(512);
  });
});

describe('MetaSession.deploy: refusals are one sentence and leave nothing behind', () => {
  it('a create the key may not make (409 policy) names the entitlements; it is not retried', async () => {
    world.meta.setPolicy((r) => r.method === 'POST');
    const err = await rejection(deployTo(await openDeploy(world), 'a.zip'));
    expect(err).toBeInstanceOf(NothingCreated);
    expect(err.message).toBe(`Gestalt Meta did not permit create lambda '${NAME}' (HTTP 409: You do not have permission to perform this action. Failed: 'lambda.create'); grant the API key's account the create/update/delete entitlements for lambdas and API endpoints in that environment, or lift the policy.`);
    expect(posts('/lambdas')).toHaveLength(1);
    expect(world.meta.lambdas()).toEqual([]);
  });

  it('an unknown GESTALT_LAMBDA_PROVIDER_ID (404 on Meta 2.4) is named with where to find one: by open, else by the create', async () => {
    const sentence = `GESTALT_LAMBDA_PROVIDER_ID ${BOGUS} is not a Lambda provider in org 'root' (Meta: Provider with ID '${BOGUS}' not found.); use the id of a Lambda provider (GET /root/providers?type=Lambda).`;
    const target = world.target({ providerId: BOGUS });
    expect((await rejection(target.open({ api: 'dev1', environmentId: world.envId }, 'deploy'))).message).toBe(sentence);
    // A key without provider.view cannot check it up front: the create still says the same.
    world.meta.setPolicy((r) => r.method === 'GET' && r.path.includes('/providers/'));
    const session = await target.open({ api: 'dev1', environmentId: world.envId }, 'deploy');
    world.meta.setPolicy(null);
    const err = await rejection(deployTo(session, 'a.zip'));
    expect(err).toBeInstanceOf(NothingCreated);
    expect(err.message).toBe(sentence);
    expect(world.meta.lambdas()).toEqual([]);
  });

  it('Meta 1.5 answers an unknown provider with 422: the provider is checked before the payload is blamed', async () => {
    await inWorld({ version: '1.5' }, async (old) => {
      // A key without provider.view: open cannot check the provider, so the create meets it.
      old.meta.setPolicy((r) => r.method === 'GET' && r.path.includes('/providers/'));
      const session = await old.target({ providerId: BOGUS }).open({ api: 'dev1', environmentId: old.envId }, 'deploy');
      old.meta.setPolicy(null);
      old.meta.clearRequests();
      const err = await rejection(deployTo(session, 'a.zip'));
      expect(err.message).toBe(`GESTALT_LAMBDA_PROVIDER_ID ${BOGUS} is not a Lambda provider in org 'root' (Meta: Invalid Lambda provider ID '${BOGUS}'.); use the id of a Lambda provider (GET /root/providers?type=Lambda).`);
      // The last lookup proves the failed create left nothing under its id.
      expect(old.calls({ [BOGUS]: '{bogus}' })).toEqual([LAMBDAS, 'GET /root/providers/{bogus}', 'GET /root/environments/{env}/lambdas/{?}']);
    });
  });

  it('a payload Meta cannot parse (400) quotes Meta\'s reason', async () => {
    const session = await openDeploy(world);
    const err = await rejection(deployTo(session, 'a.zip', { fn: packaged('a.zip', { memory: 0.5 }) }));
    expect(err.message).toBe(`Gestalt Meta rejected the request to create lambda '${NAME}' (HTTP 400: Failed to parse payload: /properties/memory: error.expected.int).`);
    expect(posts('/lambdas')).toHaveLength(1);
  });
});
