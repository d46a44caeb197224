// MetaTarget.open and probe in-process against the Meta emulator: which lookups a run makes, and the one
// sentence each wrong setting earns.
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { RemoteError } from '../../src/errors.js';
import { serveLoopback } from '../support/loopback.js';
import { BEARER, rejection } from './fixtures.js';
import { DEPLOY_LOOKUPS, ENDPOINT_LOOKUP, openDeploy, worldPerTest, type MetaWorld } from './meta-world.js';

const UNKNOWN = '6b2f0f3e-0000-4000-8000-000000000000';
let world: MetaWorld;
worldPerTest((w) => (world = w));

describe('MetaTarget.open: the lookups of a run', () => {
  it('deploy and plan read the environment, its APIs, lambdas and the provider side by side, then the API\'s endpoints; nothing else', async () => {
    for (const purpose of ['deploy', 'plan'] as const) {
      world.meta.clearRequests();
      await world.target().open({ api: 'dev1', environmentId: world.envId }, purpose);
      const calls = world.calls();
      expect(calls.slice(0, 4).sort()).toEqual([...DEPLOY_LOOKUPS].sort());
      expect(calls.slice(4)).toEqual([ENDPOINT_LOOKUP]);
      expect(world.meta.requests.every((r) => r.status === 200)).toBe(true);
    }
  });

  it('stop reads only the environment and its lambdas: no API is needed to remove', async () => {
    await world.target().open({ api: 'no-such-api', environmentId: world.envId }, 'stop');
    expect(world.calls().sort()).toEqual(['GET /root/environments/{env}', 'GET /root/environments/{env}/lambdas?expand=true']);
  });

  it('without a placement makes no call, and a session that needs one says which variable is missing', async () => {
    const session = await world.target().open(undefined, 'stop');
    expect(world.meta.requests).toEqual([]);
    const err = await rejection(session.discover());
    expect(err.message).toBe('LAMBDA_ENVIRONMENT_ID is needed to find the functions in Gestalt.');
  });

  it('a bearer token (GESTALT_TOKEN) authenticates the same lookups', async () => {
    await world.target({ auth: { kind: 'bearer', token: BEARER } }).open({ api: 'dev1', environmentId: world.envId }, 'deploy');
    expect(world.meta.requests.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  });
});

describe('MetaTarget.open: one sentence for each wrong setting', () => {
  it('an unknown LAMBDA_API lists the environment\'s APIs, sorted', async () => {
    world.meta.seedApi(world.envId, { name: 'prod' });
    world.meta.seedApi(world.envId, { name: 'beta' });
    const err = await rejection(openDeploy(world, 'nope'));
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe(`LAMBDA_API 'nope' names no API in environment ${world.envId}; its APIs are: beta, dev1, prod.`);
    expect(world.calls()).not.toContain(ENDPOINT_LOOKUP);
  });

  it('an environment without APIs says to create one', async () => {
    const bare = world.meta.seedEnvironment({ name: 'bare' });
    const err = await rejection(world.target().open({ api: 'dev1', environmentId: bare }, 'deploy'));
    expect(err.message).toBe(`LAMBDA_API 'dev1' names no API in environment ${bare}; it has no APIs yet — create one in Gestalt first.`);
  });

  it('a refused key (401) names GF_API_KEY/GF_API_SECRET and the org, after checking the org is not the cause', async () => {
    const err = await rejection(world.target({ auth: { kind: 'basic', key: 'gf-key', secret: 'wrong-secret-123' } }).open({ api: 'dev1', environmentId: world.envId }, 'deploy'));
    expect(err.message).toBe(`Gestalt Meta refused the credentials to read environment ${world.envId} (HTTP 401): check GF_API_KEY/GF_API_SECRET or GESTALT_TOKEN, and that GESTALT_ORG 'root' exists.`);
    expect(world.calls().slice(4)).toEqual(['GET /root']);
    world.collected.expectNoSecrets(['wrong-secret-123', Buffer.from('gf-key:wrong-secret-123').toString('base64')]);
  });

  it('an unknown LAMBDA_ENVIRONMENT_ID is named as such, not as a credentials problem', async () => {
    const err = await rejection(world.target().open({ api: 'dev1', environmentId: UNKNOWN }, 'deploy'));
    expect(err.message).toBe(`LAMBDA_ENVIRONMENT_ID ${UNKNOWN} is not an environment in org 'root'; copy the environment's id from Gestalt.`);
  });

  it('an unknown GESTALT_ORG (which Meta answers with 401 on every org route) is told apart by GET /{org}', async () => {
    const err = await rejection(world.target({ org: 'nosuch' }).open({ api: 'dev1', environmentId: world.envId }, 'deploy'));
    expect(err.message).toBe("GESTALT_ORG 'nosuch' is not an org in Gestalt Meta; use the org's FQON (e.g. root or acme.engineering).");
    expect(world.calls().slice(4)).toEqual(['GET /nosuch']);
  });

  it('a read the key may not make (403) names the call and the entitlement to grant', async () => {
    world.meta.setPolicy((r) => r.method === 'GET' && r.path.endsWith('/lambdas'));
    const err = await rejection(openDeploy(world));
    expect(err.message).toBe(`Gestalt Meta did not permit list the lambdas of environment ${world.envId} (HTTP 403: You do not have permission to perform this action. Failed: 'lambda.view'); grant the API key's account read entitlements in org 'root'.`);
  });

  it('a Meta that keeps answering 503 is asked as often as the policy allows, then named with "after retries"', async () => {
    world.meta.injectFailure({ kind: 'status', status: 503, count: 3, match: (r) => r.path === `/root/environments/${world.envId}` });
    const err = await rejection(openDeploy(world));
    expect(err.message).toBe(`Gestalt Meta failed to read environment ${world.envId} (HTTP 503 after retries: Service Unavailable (injected failure)).`);
    expect(world.calls().filter((c) => c === 'GET /root/environments/{env}')).toHaveLength(3);
  });

  it('a Meta that is not there names GESTALT_META_URL', async () => {
    const url = world.meta.url;
    await world.meta.close();
    const err = await rejection(world.target({ url }).open({ api: 'dev1', environmentId: world.envId }, 'deploy'));
    expect(err.message).toMatch(new RegExp(`^Could not reach Gestalt Meta to read environment ${world.envId}: connection to http://127\\.0\\.0\\.1:\\d+/root/environments/${world.envId} failed before an answer \\(ECONNREFUSED\\); check GESTALT_META_URL and that the runner can reach it\\.$`));
  });

  it('a URL that answers HTML (the UI, not Meta) says so', async () => {
    const ui = await serveLoopback(createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Gestalt UI</html>')));
    try {
      const err = await rejection(world.target({ url: ui.url }).open({ api: 'dev1', environmentId: world.envId }, 'deploy'));
      expect(err.message).toBe(`Gestalt Meta answered GET /environments/${world.envId} with HTTP 200 but no JSON; check GESTALT_META_URL points at Meta, not its UI.`);
    } finally {
      await ui.close();
    }
  });
});

describe('MetaTarget.probe (doctor)', () => {
  it('reads the org once and names it', async () => {
    expect(await world.target().probe()).toBe("Meta answered for org 'root' with these credentials");
    expect(world.calls()).toEqual(['GET /root']);
  });

  it('a refused key names the variables', async () => {
    const err = await rejection(world.target({ auth: { kind: 'bearer', token: 'not-the-token' } }).probe());
    expect(err.message).toBe("Gestalt Meta refused the credentials to read org 'root' (HTTP 401): check GF_API_KEY/GF_API_SECRET or GESTALT_TOKEN, and that GESTALT_ORG 'root' exists.");
  });
});
