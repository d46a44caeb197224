// MetaSession.remove and discover in-process against the Meta emulator: what stop deletes, in which order,
// and what it reports for things already gone.
import { describe, expect, it } from 'vitest';
import { GF_BASIC, packaged, record, recorded, rejection } from './fixtures.js';
import { request, worldPerTest, type MetaWorld } from './meta-world.js';

let world: MetaWorld;
worldPerTest((w) => (world = w));

const stopSession = () => world.target().open({ api: 'dev1', environmentId: world.envId }, 'stop');
const asAdmin = (path: string, init: RequestInit) =>
  fetch(`${world.meta.url}/root${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Basic ${GF_BASIC}` } });

describe('MetaSession.remove', () => {
  it('deletes the lambda\'s endpoints before the lambda (Meta does not cascade)', async () => {
    const [a] = await world.deployed(['a.zip']);
    const id = a?.id ?? '';
    // A second endpoint on the same lambda, as a hand-made one would be.
    const extra = await asAdmin(`/apis/${world.apiId}/apiendpoints`, { method: 'POST', body: JSON.stringify({ name: 'extra', properties: { implementation_type: 'lambda', implementation_id: id, resource: '/extra' } }) });
    const extraId = ((await extra.json()) as { id: string }).id;
    world.meta.clearRequests();
    const session = await world.target().open(undefined, 'stop');
    const result = await session.remove(recorded('a.zip', { id }), record([], { environmentId: world.envId }));
    expect(result).toEqual({ outcome: 'removed', endpoints: 2 });
    expect(world.calls({ [id]: '{a}', [a?.endpointId ?? '']: '{a-endpoint}', [extraId]: '{extra}' })).toEqual([
      'GET /root/apiendpoints?expand=true&implementation_type=lambda&implementation_id={a}',
      'DELETE /root/apiendpoints/{a-endpoint}',
      'DELETE /root/apiendpoints/{extra}',
      'DELETE /root/environments/{env}/lambdas/{a}',
    ]);
    expect(world.meta.lambdas()).toEqual([]);
    expect(world.meta.endpoints()).toEqual([]);
  });

  it('a lambda already gone (404 on delete) is \'absent\', and a second stop changes nothing', async () => {
    const [a] = await world.deployed(['a.zip']);
    const fn = recorded('a.zip', { id: a?.id });
    const session = await stopSession();
    expect(await session.remove(fn, record([fn], { environmentId: world.envId }))).toEqual({ outcome: 'removed', endpoints: 1 });
    world.meta.clearRequests();
    expect(await session.remove(fn, record([fn], { environmentId: world.envId }))).toEqual({ outcome: 'absent', endpoints: 0 });
    expect(world.meta.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['GET 200', 'DELETE 404']);
  });

  it('endpoints left behind by a lambda deleted by hand are still removed', async () => {
    const [a] = await world.deployed(['a.zip']);
    await asAdmin(`/environments/${world.envId}/lambdas/${a?.id}`, { method: 'DELETE' });
    const session = await world.target().open(undefined, 'stop');
    const result = await session.remove(recorded('a.zip', { id: a?.id }), record([], { environmentId: world.envId }));
    expect(result).toEqual({ outcome: 'removed', endpoints: 1 });
    expect(world.meta.endpoints()).toEqual([]);
  });

  it('a recorded function without an id is found by name in the environment', async () => {
    const [a] = await world.deployed(['a.zip', 'b.zip']);
    const session = await stopSession();
    world.meta.clearRequests();
    expect(await session.remove(recorded('a.zip'), record([]))).toEqual({ outcome: 'removed', endpoints: 1 });
    expect(world.writes({ [a?.id ?? '']: '{a}', [a?.endpointId ?? '']: '{a-endpoint}' })).toEqual(['DELETE /root/apiendpoints/{a-endpoint}', 'DELETE /root/environments/{env}/lambdas/{a}']);
    expect(world.meta.lambdas().map((l) => l.name)).toEqual(['lambdas/main/b.zip']);
  });

  it('with neither an environment nor an id there is nothing to address: \'absent\', no call', async () => {
    const session = await world.target().open(undefined, 'stop');
    expect(await session.remove(recorded('a.zip', { id: '7c3f0f3e-0000-4000-8000-000000000000' }), record([]))).toEqual({ outcome: 'absent', endpoints: 0 });
    expect(await session.remove(recorded('a.zip'), record([], { environmentId: world.envId }))).toEqual({ outcome: 'absent', endpoints: 0 });
    expect(world.meta.requests).toEqual([]);
  });

  it('a delete the key may not make (409) names the entitlements, and the lambda stays', async () => {
    const [a] = await world.deployed(['a.zip']);
    world.meta.setPolicy((r) => r.method === 'DELETE');
    const session = await stopSession();
    const err = await rejection(session.remove(recorded('a.zip', { id: a?.id }), record([], { environmentId: world.envId })));
    expect(err.message).toBe("Gestalt Meta did not permit remove lambda 'lambdas/main/a.zip' (HTTP 409: You do not have permission to perform this action. Failed: 'apiendpoint.delete'); grant the API key's account the create/update/delete entitlements for lambdas and API endpoints in that environment, or lift the policy.");
    expect(world.meta.lambdas()).toHaveLength(1);
    expect(world.meta.endpoints()).toHaveLength(1);
  });
});

describe('MetaSession.discover', () => {
  it('finds this ref\'s lambdas by name prefix, and only those, from the lookups open already made', async () => {
    const [a, b] = await world.deployed(['a.zip', 'b.zip']);
    const other = await world.target().open({ api: 'dev1', environmentId: world.envId }, 'deploy');
    await other.deploy(request('z.zip', { fn: packaged('z.zip', { name: 'lambdas/other/z.zip' }) }));
    const session = await stopSession();
    world.meta.clearRequests();
    const found = await session.discover('lambdas/main/');
    expect(world.meta.requests).toEqual([]);
    expect(found.map(({ deployedAt, ...rest }) => (expect(Date.parse(deployedAt)).not.toBeNaN(), rest)).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: 'lambdas/main/a.zip', file: 'a.zip', runtime: 'nodejs', handler: 'index.handler', packageKey: '', sha256: '', id: a?.id },
      { name: 'lambdas/main/b.zip', file: 'b.zip', runtime: 'nodejs', handler: 'index.handler', packageKey: '', sha256: '', id: b?.id },
    ]);
  });
});
