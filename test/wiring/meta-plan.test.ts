// MetaSession.plan in-process against the Meta emulator: what deploy would do, decided from open's lookups,
// with no request of its own.
import { describe, expect, it } from 'vitest';
import { GF_BASIC, packaged, packageUrl } from './fixtures.js';
import { request, worldPerTest, type MetaWorld } from './meta-world.js';

let world: MetaWorld;
worldPerTest((w) => (world = w));

const planSession = () => world.target().open({ api: 'dev1', environmentId: world.envId }, 'plan');

describe('MetaSession.plan', () => {
  it('names create, update with the changed fields, unchanged, and a missing endpoint, sending nothing', async () => {
    const [, , c] = await world.deployed(['a.zip', 'b.zip', 'c.zip']);
    await fetch(`${world.meta.url}/root/apiendpoints/${c?.endpointId}`, { method: 'DELETE', headers: { authorization: `Basic ${GF_BASIC}` } });
    const session = await planSession();
    world.meta.clearRequests();
    const plans = await Promise.all([
      session.plan(request('a.zip', { packageUrl: packageUrl('a.zip', 'a-new-signature') })),
      session.plan(request('b.zip', { fn: packaged('b.zip', { handler: 'main.run', timeout: 60 }), packageUrl: `https://bucket.example.test/other/b.zip` })),
      session.plan(request('c.zip')),
      session.plan(request('d.zip')),
    ]);
    expect(plans).toEqual([
      { action: 'unchanged', changed: [], endpoint: 'existing' },
      { action: 'update', changed: ['package_url', 'handler', 'timeout'], endpoint: 'existing' },
      { action: 'unchanged', changed: [], endpoint: 'create' },
      { action: 'create', endpoint: 'create' },
    ]);
    expect(world.meta.requests).toEqual([]);
  });

  it('a leftover lambda in state Failed plans as a create', async () => {
    await fetch(`${world.meta.url}/root/environments/${world.envId}/lambdas`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${GF_BASIC}` },
      body: JSON.stringify({ name: 'lambdas/main/a.zip', properties: { runtime: 'nodejs' } }),
    });
    const session = await planSession();
    expect(await session.plan(request('a.zip'))).toEqual({ action: 'create', endpoint: 'create' });
  });
});
