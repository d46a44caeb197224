// MetaSession.remove and discover in-process against the Meta emulator: what stop deletes, in which order,
// what it reports for things already gone, and what it refuses because it cannot prove it is this environment's.
import { describe, expect, it } from 'vitest';
import { JOB, packaged, record, recorded, rejection } from './fixtures.js';
import { deployTo, MARKS, worldPerTest, type MetaWorld } from './meta-world.js';

let world: MetaWorld;
worldPerTest((w) => (world = w));

const NAME = 'lambdas/main/a.zip';
const stopSession = () => world.target().open({ api: 'dev1', environmentId: world.envId }, 'stop');
const stopRecord = () => record([], { environmentId: world.envId });
/** An endpoint in front of lambda `id`, made by hand (with `variables`, as if by another run of ours). */
const handMadeEndpoint = async (id: string, variables?: Record<string, string>) =>
  ((await (await world.admin('POST', `/apis/${world.apiId}/apiendpoints`, { name: 'extra', properties: { implementation_type: 'lambda', implementation_id: id, resource: '/extra' }, variables })).json()) as { id: string }).id;

describe('MetaSession.remove', () => {
  it('deletes the lambda\'s endpoints before the lambda (Meta does not cascade)', async () => {
    const [a] = await world.deployed(['a.zip']);
    const id = a?.id ?? '';
    const extraId = await handMadeEndpoint(id, MARKS);
    const session = await stopSession();
    world.meta.clearRequests();
    const result = await session.remove(recorded('a.zip', { id }), stopRecord());
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

  it('a second stop finds nothing under the id: \'absent\', and only the endpoint list is asked', async () => {
    const [a] = await world.deployed(['a.zip']);
    const fn = recorded('a.zip', { id: a?.id });
    expect(await (await stopSession()).remove(fn, record([fn], { environmentId: world.envId }))).toEqual({ outcome: 'removed', endpoints: 1 });
    const again = await stopSession();
    world.meta.clearRequests();
    expect(await again.remove(fn, record([fn], { environmentId: world.envId }))).toEqual({ outcome: 'absent', endpoints: 0 });
    expect(world.calls({ [a?.id ?? '']: '{a}' })).toEqual(['GET /root/apiendpoints?expand=true&implementation_type=lambda&implementation_id={a}']);
    expect(again.mayExist(a?.id ?? '')).toBe(false);
  });

  it('a lambda deleted after open (404 on delete) is still removed once, and mayExist then says it is gone', async () => {
    const [a] = await world.deployed(['a.zip']);
    const session = await stopSession();
    expect(session.mayExist(a?.id ?? '')).toBe(true);
    await world.admin('DELETE', `/environments/${world.envId}/lambdas/${a?.id}`);
    world.meta.clearRequests();
    expect(await session.remove(recorded('a.zip', { id: a?.id }), stopRecord())).toEqual({ outcome: 'removed', endpoints: 1 });
    expect(world.meta.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['GET 200', 'DELETE 204', 'DELETE 404']);
    expect(session.mayExist(a?.id ?? '')).toBe(false);
  });

  it('endpoints left behind by a lambda deleted by hand are still removed', async () => {
    const [a] = await world.deployed(['a.zip']);
    await world.admin('DELETE', `/environments/${world.envId}/lambdas/${a?.id}`);
    const session = await stopSession();
    const result = await session.remove(recorded('a.zip', { id: a?.id }), stopRecord());
    expect(result).toEqual({ outcome: 'removed', endpoints: 1 });
    expect(world.meta.endpoints()).toEqual([]);
  });

  it('without LAMBDA_ENVIRONMENT_ID (no placement) nothing can be proven: a sentence, no call', async () => {
    const session = await world.target().open(undefined, 'stop');
    const err = await rejection(session.remove(recorded('a.zip', { id: '7c3f0f3e-0000-4000-8000-000000000000' }), record([])));
    expect(err.message).toBe('LAMBDA_ENVIRONMENT_ID is needed to find the functions in Gestalt.');
    expect(world.meta.requests).toEqual([]);
  });

  it('a delete the key may not make (409) names the entitlements, and the lambda stays', async () => {
    const [a] = await world.deployed(['a.zip']);
    world.meta.setPolicy((r) => r.method === 'DELETE');
    const session = await stopSession();
    const err = await rejection(session.remove(recorded('a.zip', { id: a?.id }), stopRecord()));
    expect(err.message).toBe(`Gestalt Meta did not permit remove lambda '${NAME}' (HTTP 409: You do not have permission to perform this action. Failed: 'apiendpoint.delete'); grant the API key's account the create/update/delete entitlements for lambdas and API endpoints in that environment, or lift the policy.`);
    expect(world.meta.lambdas()).toHaveLength(1);
    expect(world.meta.endpoints()).toHaveLength(1);
  });
});

describe('MetaSession.remove: refuses what it cannot prove is this environment\'s, and deletes nothing of it', () => {
  async function refused(id: string | undefined, name = NAME): Promise<string> {
    const session = await stopSession();
    world.meta.clearRequests();
    const err = await rejection(session.remove(recorded('a.zip', { id, name }), stopRecord()));
    expect(world.writes()).toEqual([]);
    return err.message;
  }

  it('a recorded function without an id (it is never looked up by name)', async () => {
    await world.deployed(['a.zip']);
    expect(await refused(undefined)).toBe(`Refused to remove '${NAME}': the record gives no lambda id, so it cannot be proven to be this environment's; remove it in Gestalt by hand.`);
    expect(world.meta.lambdas()).toHaveLength(1);
  });

  it('a lambda whose name is not the recorded one', async () => {
    const [a] = await world.deployed(['a.zip']);
    expect(await refused(a?.id, 'lambdas/main/b.zip')).toBe(`Refused to remove lambda ${a?.id}: it is named '${NAME}', not 'lambdas/main/b.zip' as the record says; the record does not describe it.`);
  });

  it('a lambda made by hand, without an ownership mark', async () => {
    await world.admin('POST', `/environments/${world.envId}/lambdas`, { name: NAME, properties: { runtime: 'nodejs' } });
    const [theirs] = world.meta.lambdas();
    expect(await refused(theirs.id)).toBe(`Refused to remove lambda '${NAME}' (${theirs.id}): it carries no gestalt-deploy ownership mark (created by hand or by another tool).`);
  });

  it('a lambda marked for another environment of the project', async () => {
    const theirs = await deployTo(await world.target({}, { job: { ...JOB, environment: 'review/other' } }).open({ api: 'dev1', environmentId: world.envId }, 'deploy'), 'a.zip');
    expect(await refused(theirs.id)).toBe(`Refused to remove lambda '${NAME}' (${theirs.id}): its ownership mark names environment "review/other", not '${JOB.environment}'.`);
    expect(world.meta.endpoints()).toHaveLength(1);
  });

  it('a lambda of ours with an endpoint in front of it that is not ours: not even our own endpoint goes', async () => {
    const [a] = await world.deployed(['a.zip']);
    const extraId = await handMadeEndpoint(a?.id ?? '');
    expect(await refused(a?.id)).toBe(`Refused to remove '${NAME}': its endpoint 'extra' (${extraId}) carries no gestalt-deploy ownership mark (created by hand or by another tool); remove that endpoint in Gestalt first if it should go.`);
    expect(world.meta.endpoints()).toHaveLength(2);
    expect(world.meta.lambdas()).toHaveLength(1);
  });
});

describe('MetaSession.discover', () => {
  it('finds this project\'s and environment\'s lambdas by their mark, and only those, from the lookups open already made', async () => {
    const [a, b] = await world.deployed(['a.zip', 'b.zip']);
    const other = await world.target({}, { job: { ...JOB, environment: 'review/other' } }).open({ api: 'dev1', environmentId: world.envId }, 'deploy');
    await deployTo(other, 'z.zip', { fn: packaged('z.zip', { name: 'lambdas/other/z.zip' }) });
    // Same name prefix, no mark: a prefix would take it, the mark does not.
    await world.admin('POST', `/environments/${world.envId}/lambdas`, { name: 'lambdas/main/c.zip', properties: { runtime: 'nodejs' } });
    const session = await stopSession();
    world.meta.clearRequests();
    const found = await session.discover();
    expect(world.meta.requests).toEqual([]);
    expect(found.map(({ deployedAt, ...rest }) => (expect(Date.parse(deployedAt)).not.toBeNaN(), rest)).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: 'lambdas/main/a.zip', file: 'a.zip', runtime: 'nodejs', handler: 'index.handler', packageKey: '', sha256: '', id: a?.id, state: 'deployed' },
      { name: 'lambdas/main/b.zip', file: 'b.zip', runtime: 'nodejs', handler: 'index.handler', packageKey: '', sha256: '', id: b?.id, state: 'deployed' },
    ]);
  });
});
