// MetaSession.plan in-process against the Meta emulator: what deploy would do, decided from open's lookups,
// with no request of its own.
import { describe, expect, it } from 'vitest';
import { packaged, packageUrl } from './fixtures.js';
import { MARKS, request, worldPerTest, type MetaWorld } from './meta-world.js';

let world: MetaWorld;
worldPerTest((w) => (world = w));

const planSession = () => world.target().open({ api: 'dev1', environmentId: world.envId }, 'plan');

describe('MetaSession.plan', () => {
  it('names create, update with the changed fields, unchanged, and a missing endpoint, sending nothing', async () => {
    const [, , c] = await world.deployed(['a.zip', 'b.zip', 'c.zip']);
    await world.admin('DELETE', `/apiendpoints/${c?.endpointId}`);
    const session = await planSession();
    world.meta.clearRequests();
    const plans = await Promise.all([
      session.plan(request('a.zip', { packageUrl: packageUrl('a.zip', 'a-new-signature') })),
      session.plan(request('b.zip', { fn: packaged('b.zip', { handler: 'main.run', timeout: 60 }), packageUrl: `https://bucket.example.test/other/b.zip` })),
      session.plan(request('c.zip')),
      session.plan(request('d.zip')),
    ]);
    expect(plans).toEqual([
      { action: 'unchanged', changed: [], changes: [], endpoint: 'existing' },
      {
        action: 'update',
        changed: ['package_url', 'handler', 'timeout'],
        changes: [
          { field: 'package_url', from: packageUrl('b.zip').split('?')[0], to: 'https://bucket.example.test/other/b.zip' },
          { field: 'handler', from: 'index.handler', to: 'main.run' },
          { field: 'timeout', from: '30', to: '60' },
        ],
        endpoint: 'existing',
      },
      { action: 'unchanged', changed: [], changes: [], endpoint: 'create' },
      { action: 'create', endpoint: 'create' },
    ]);
    expect(world.meta.requests).toEqual([]);
  });

  it('a leftover lambda of ours in state Failed plans as a create', async () => {
    await world.admin('POST', `/environments/${world.envId}/lambdas`, { name: 'lambdas/main/a.zip', properties: { runtime: 'nodejs' }, variables: MARKS });
    const session = await planSession();
    expect(await session.plan(request('a.zip'))).toEqual({ action: 'create', endpoint: 'create' });
  });

  it('a lambda of that name without our mark plans as a refusal that says why', async () => {
    await world.admin('POST', `/environments/${world.envId}/lambdas`, { name: 'lambdas/main/a.zip', properties: { runtime: 'nodejs' } });
    const [theirs] = world.meta.lambdas();
    const session = await planSession();
    world.meta.clearRequests();
    expect(await session.plan(request('a.zip'))).toEqual({
      action: 'refuse',
      endpoint: 'unknown',
      refused: `a lambda named 'lambdas/main/a.zip' (${theirs.id}) already exists in environment ${world.envId} and it carries no gestalt-deploy ownership mark (created by hand or by another tool); it was left alone. Remove or rename it in Gestalt, or change GESTALT_NAME_TEMPLATE`,
    });
    expect(world.meta.requests).toEqual([]);
  });
});
