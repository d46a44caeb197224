// The Meta emulator, exercised over real HTTP: it must answer like docs/gestalt-api.md says, or every client test
// built on it proves nothing.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startMetaEmulator } from '../support/meta-emulator.js';
import type { MetaEmulator, MetaEmulatorOptions } from '../support/meta-emulator.js';

const KEY = 'ci-key';
const SECRET = 'ci-secret';
const TOKEN = '5f0c2a7e-3b1d-4c8e-9a6f-0d2e4b6c8a1f';
const BASIC = `Basic ${Buffer.from(`${KEY}:${SECRET}`).toString('base64')}`;
const GATEWAY = 'https://gw.example.com/';
const MISSING_ID = '11111111-2222-4333-8444-555555555555';

let emu: MetaEmulator;
let envId: string;
let apiId: string;
let providerId: string;

async function start(opts: MetaEmulatorOptions = {}): Promise<void> {
  emu = await startMetaEmulator({ apiKeys: { [KEY]: SECRET }, bearerTokens: [TOKEN], gatewayUrl: GATEWAY, ...opts });
  envId = emu.seedEnvironment({ name: 'dev' });
  apiId = emu.seedApi(envId, { name: 'acme' });
  providerId = emu.seedLambdaProvider();
}

beforeEach(() => start());
afterEach(() => emu.close());

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

async function call(
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; auth?: string | null; contentType?: string; signal?: AbortSignal } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.auth !== null) headers.authorization = opts.auth ?? BASIC;
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(`${emu.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    redirect: 'manual',
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function lambdaPayload(name: string, props: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    description: 'deploy by gitlab, ref main, sha 6c1ce958',
    properties: {
      provider: { id: providerId, locations: [] },
      public: true,
      cpus: 0.1,
      memory: 512,
      timeout: 30,
      code_type: 'package',
      package_url: 'https://bucket.example.com/hello.zip',
      compressed: false,
      headers: { Accept: 'text/plain' },
      periodic_info: {},
      handler: 'hello.js;handler',
      runtime: 'nodejs',
      env: {},
      ...props,
    },
  };
}

const lambdasPath = () => `/root/environments/${envId}/lambdas`;

async function createLambda(name: string, props: Record<string, unknown> = {}): Promise<string> {
  const res = await call('POST', lambdasPath(), { body: lambdaPayload(name, props) });
  expect(res.status).toBe(201);
  return res.json.id as string;
}

async function createEndpoint(lambdaId: string, resource: string): Promise<Answer> {
  return call('POST', `/root/apis/${apiId}/apiendpoints`, {
    body: {
      name: resource.slice(1),
      properties: { implementation_type: 'lambda', implementation_id: lambdaId, resource, methods: ['GET', 'POST'] },
    },
  });
}

describe('authentication', () => {
  const unauthorizedBody = { code: 401, message: 'Authentication required', resource: '', developerMessage: '' };

  it('answers 401 with the Meta body and a WWW-Authenticate header without credentials', async () => {
    const res = await call('GET', `/root/environments/${envId}`, { auth: null });
    expect(res.status).toBe(401);
    expect(res.json).toEqual(unauthorizedBody);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${emu.url}/root/oauth/issue" error="invalid_token"`);
    expect(emu.requests.at(-1)).toMatchObject({ method: 'GET', path: `/root/environments/${envId}`, status: 401 });
  });

  it('rejects a wrong secret, an unknown token and a secret containing ":"', async () => {
    const wrong = `Basic ${Buffer.from(`${KEY}:nope`).toString('base64')}`;
    expect((await call('GET', '/root', { auth: wrong })).status).toBe(401);
    expect((await call('GET', '/root', { auth: 'Bearer not-a-token' })).status).toBe(401);
    await emu.close();
    await start({ apiKeys: { k: 'a:b' } });
    const colon = `Basic ${Buffer.from('k:a:b').toString('base64')}`;
    expect((await call('GET', '/root', { auth: colon })).status).toBe(401);
  });

  it('accepts Basic API keys and Bearer tokens', async () => {
    const basic = await call('GET', '/root');
    expect(basic.status).toBe(200);
    expect(basic.json.properties.fqon).toBe('root');
    expect((await call('GET', '/root', { auth: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it('404s an unknown FQON on GET /{fqon} but 401s it on org-scoped routes', async () => {
    const org = await call('GET', '/acme.other');
    expect(org).toMatchObject({ status: 404, json: { code: 404, message: "Org with FQON 'acme.other' not found." } });
    const scoped = await call('GET', `/acme.other/environments/${envId}`);
    expect(scoped.status).toBe(401);
    expect(scoped.json.message).toBe('Authentication required');
  });
});

describe('routing', () => {
  it('answers 400 for a non-UUID id', async () => {
    const res = await call('GET', '/root/environments/xyz');
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ code: 400, message: "'xyz' is not a valid v4 UUID." });
  });

  it('answers 404 ROUTE_NOT_FOUND for an unknown route or method', async () => {
    const res = await call('GET', '/root/widgets');
    expect(res).toMatchObject({ status: 404, json: { code: 404, message: 'ROUTE_NOT_FOUND: /root/widgets' } });
    expect((await call('PUT', `/root/environments/${envId}`, { body: {} })).status).toBe(404);
  });

  it('redirects a trailing slash with 301 to the path without it', async () => {
    const res = await call('GET', `/root/environments/${envId}/lambdas/?expand=true`);
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe(`/root/environments/${envId}/lambdas?expand=true`);
  });

  it('reaches a lambda org-wide, but not under another environment', async () => {
    const id = await createLambda('a');
    const ep = (await createEndpoint(id, '/a')).json.id;
    expect((await call('GET', `/root/lambdas/${id}`)).json).toMatchObject({ id, name: 'a' });
    expect((await call('GET', `/root/lambdas/${id}/apiendpoints`)).json.map((e: { id: string }) => e.id)).toEqual([ep]);
    const otherEnv = emu.seedEnvironment({ name: 'prod' });
    expect((await call('GET', `/root/environments/${otherEnv}/lambdas/${id}`)).status).toBe(404);
    expect((await call('DELETE', `/root/environments/${otherEnv}/lambdas/${id}`)).status).toBe(404);
    expect(emu.lambdas()).toHaveLength(1);
  });

  it('GETs an environment by id, 404 when missing', async () => {
    const env = await call('GET', `/root/environments/${envId}`);
    expect(env.json).toMatchObject({ id: envId, name: 'dev', resource_type: 'Gestalt::Resource::Environment' });
    const missing = await call('GET', `/root/environments/${MISSING_ID}`);
    expect(missing).toMatchObject({
      status: 404,
      json: { code: 404, message: `Environment with ID '${MISSING_ID}' not found.` },
    });
  });
});

describe('lists and filters', () => {
  it('returns links unless expand=true', async () => {
    const id = await createLambda('acme/main/hello.js');
    const links = await call('GET', lambdasPath());
    expect(links.status).toBe(200);
    expect(links.json).toEqual([
      { typeId: expect.any(String), id, name: 'acme/main/hello.js', href: `/root/lambdas/${id}` },
    ]);
    const full = await call('GET', `${lambdasPath()}?expand=true`);
    expect(full.json[0]).toMatchObject({ id, resource_type: 'Gestalt::Resource::Node::Lambda' });
    expect(full.json[0].properties.runtime).toBe('nodejs');
  });

  it('filters exactly on name and on properties, compared as strings', async () => {
    await createLambda('a', { memory: 256 });
    await createLambda('b', { public: false });
    const byName = await call('GET', `${lambdasPath()}?expand=true&name=a`);
    expect(byName.json.map((l: { name: string }) => l.name)).toEqual(['a']);
    expect((await call('GET', `${lambdasPath()}?name=A`)).json).toEqual([]);
    const byMemory = await call('GET', `${lambdasPath()}?memory=256`);
    expect(byMemory.json.map((l: { name: string }) => l.name)).toEqual(['a']);
    const byPublic = await call('GET', `${lambdasPath()}?public=false`);
    expect(byPublic.json.map((l: { name: string }) => l.name)).toEqual(['b']);
  });

  it('answers 400 when a filter is repeated', async () => {
    const res = await call('GET', `${lambdasPath()}?name=a&name=b`);
    expect(res.status).toBe(400);
    expect(res.json.code).toBe(400);
    expect(res.json.message).toContain('included multiple search terms');
  });

  it('lists children of a bogus environment as 200 []', async () => {
    await createLambda('a');
    const res = await call('GET', `/root/environments/${MISSING_ID}/lambdas`);
    expect(res).toMatchObject({ status: 200, json: [] });
  });

  it('lists APIs of the environment and Lambda providers by type', async () => {
    const apis = await call('GET', `/root/environments/${envId}/apis?expand=true&name=acme`);
    expect(apis.json).toHaveLength(1);
    expect(apis.json[0]).toMatchObject({ id: apiId, resource_type: 'Gestalt::Resource::Api' });
    expect(apis.json[0].properties.provider.locations).toHaveLength(1);

    const all = await call('GET', '/root/providers');
    expect(all.json.length).toBeGreaterThan(1); // the gateway providers behind the API are listed too
    const lambdaProviders = await call('GET', '/root/providers?expand=true&type=Lambda');
    expect(lambdaProviders.json.map((p: { id: string }) => p.id)).toEqual([providerId]);
    expect(lambdaProviders.json[0].resource_type).toBe('Gestalt::Configuration::Provider::Lambda');
    const one = await call('GET', `/root/providers/${providerId}`);
    expect(one).toMatchObject({ status: 200, json: { id: providerId, name: 'default-laser' } });
  });
});

describe('lambda create', () => {
  it('answers 201 with the full resource, filling the envelope and parent', async () => {
    const res = await call('POST', lambdasPath(), { body: lambdaPayload('acme/main/hello.js') });
    expect(res.status).toBe(201);
    const l = res.json;
    expect(l.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(l).toMatchObject({
      name: 'acme/main/hello.js',
      description: 'deploy by gitlab, ref main, sha 6c1ce958',
      resource_type: 'Gestalt::Resource::Node::Lambda',
      resource_state: 'Gestalt::Resource::State::Active',
      org: { properties: { fqon: 'root' } },
      owner: { name: 'admin' },
    });
    expect(Date.parse(l.created.timestamp)).not.toBeNaN();
    expect(l.properties.parent).toMatchObject({ id: envId, name: 'dev', typeId: expect.any(String) });
    expect(l.properties.provider.id).toBe(providerId);
    expect(emu.lambdas()).toEqual([l]);
  });

  it('honours a client id and accepts duplicate names', async () => {
    const id = '0f0e0d0c-0b0a-4909-8807-060504030201';
    const res = await call('POST', lambdasPath(), { body: { ...lambdaPayload('same'), id } });
    expect(res.json.id).toBe(id);
    await createLambda('same');
    expect(emu.lambdas().filter((l) => l.name === 'same')).toHaveLength(2);
    const clash = await call('POST', lambdasPath(), { body: { ...lambdaPayload('other'), id } });
    expect(clash.status).toBe(409);
    expect(emu.lambdas()).toHaveLength(2);
  });

  it('rejects bad envelopes with Meta status codes', async () => {
    const { properties } = lambdaPayload('x');
    const cases: [string, unknown, number][] = [
      [`/root/environments/${MISSING_ID}/lambdas`, lambdaPayload('x'), 404],
      [lambdasPath(), { properties }, 400],
      [lambdasPath(), { name: 'x' }, 500],
      [lambdasPath(), { ...lambdaPayload('x'), resource_type: 'Gestalt::Resource::Node::Lambda' }, 400],
      [lambdasPath(), lambdaPayload('x', { provider: { id: MISSING_ID } }), 404],
    ];
    for (const [path, body, status] of cases) {
      const res = await call('POST', path, { body });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.json.code).toBe(status);
    }
    const env404 = await call('POST', `/root/environments/${MISSING_ID}/lambdas`, { body: lambdaPayload('x') });
    expect(env404.json.message).toBe(`Environment with ID '${MISSING_ID}' not found.`);
    expect(emu.lambdas()).toEqual([]);
  });

  it('answers 422 for an unknown provider on Meta 1.5', async () => {
    await emu.close();
    await start({ version: '1.5' });
    const res = await call('POST', lambdasPath(), { body: lambdaPayload('x', { provider: { id: MISSING_ID } }) });
    expect(res.status).toBe(422);
  });

  it('requires application/json (500 carrying 415) and valid JSON (400)', async () => {
    const wrongType = await call('POST', lambdasPath(), { raw: '{}', contentType: 'text/plain' });
    expect(wrongType.status).toBe(500);
    expect(wrongType.json.code).toBe(415);
    const malformed = await call('POST', lambdasPath(), { raw: '{"name":' });
    expect(malformed.status).toBe(400);
    expect(malformed.json.code).toBe(400);
  });

  it('answers 400 for a missing required property and leaves a Failed lambda behind', async () => {
    const payload = lambdaPayload('acme/main/broken.js');
    delete (payload.properties as Record<string, unknown>).memory;
    const res = await call('POST', lambdasPath(), { body: payload });
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/^Failed to parse payload: .*memory/);
    const leftover = await call('GET', `${lambdasPath()}?expand=true&name=acme/main/broken.js`);
    expect(leftover.json).toHaveLength(1);
    expect(leftover.json[0].resource_state).toBe('Gestalt::Resource::State::Failed');
  });

  it('treats a wrongly typed property like a missing one', async () => {
    const res = await call('POST', lambdasPath(), { body: lambdaPayload('t', { code_type: 'zip', memory: 1.5 }) });
    expect(res.status).toBe(400);
    expect(res.json.message).toContain('code_type');
    expect(res.json.message).toContain('memory');
    expect(emu.lambdas()[0].resource_state).toBe('Gestalt::Resource::State::Failed');
  });
});

describe('lambda PATCH', () => {
  const patch = (id: string, body: unknown) => call('PATCH', `${lambdasPath()}/${id}`, { body });

  it('applies add/replace/remove and bumps modified', async () => {
    const id = await createLambda('p', { env: { A: '1' } });
    const before = emu.lambdas()[0];
    const res = await patch(id, [
      { op: 'replace', path: '/description', value: 'deploy by gitlab, ref main, sha deadbeef' },
      { op: 'replace', path: '/properties/package_url', value: 'https://bucket.example.com/v2.zip' },
      { op: 'add', path: '/properties/env/B', value: '2' },
      { op: 'remove', path: '/properties/periodic_info' },
    ]);
    expect(res.status).toBe(200);
    expect(res.json.description).toBe('deploy by gitlab, ref main, sha deadbeef');
    expect(res.json.properties.package_url).toBe('https://bucket.example.com/v2.zip');
    expect(res.json.properties.env).toEqual({ A: '1', B: '2' });
    expect(res.json.properties).not.toHaveProperty('periodic_info');
    expect(Date.parse(res.json.modified.timestamp)).toBeGreaterThan(Date.parse(before.modified.timestamp));
    expect(res.json.created).toEqual(before.created);
    expect(emu.lambdas()[0]).toEqual(res.json);
  });

  it('answers 500 for a path outside the whitelist and changes nothing', async () => {
    const id = await createLambda('p');
    const before = emu.lambdas()[0];
    const res = await patch(id, [
      { op: 'replace', path: '/properties/runtime', value: 'python' },
      { op: 'replace', path: '/id', value: MISSING_ID },
    ]);
    expect(res).toMatchObject({ status: 500, json: { code: 500, message: 'Invalid PATCH-Op paths found' } });
    expect(emu.lambdas()[0]).toEqual(before);
  });

  it('answers 500 when removing a missing property, 400 for a non-array body, 404 for a missing lambda', async () => {
    const id = await createLambda('p');
    const res = await patch(id, [{ op: 'remove', path: '/properties/nope' }]);
    expect(res).toMatchObject({ status: 500, json: { code: 500, message: '/properties/nope does not exist.' } });
    expect((await patch(id, { op: 'replace', path: '/name', value: 'x' })).status).toBe(400);
    expect((await patch(MISSING_ID, [{ op: 'replace', path: '/name', value: 'x' }])).status).toBe(404);
    expect(emu.lambdas()[0].name).toBe('p');
  });

  it('applies all ops or none', async () => {
    const id = await createLambda('p');
    const res = await patch(id, [
      { op: 'replace', path: '/properties/runtime', value: 'python' },
      { op: 'remove', path: '/properties/nope' },
    ]);
    expect(res.status).toBe(500);
    expect(emu.lambdas()[0].properties.runtime).toBe('nodejs');
  });
});

describe('API endpoints', () => {
  it('creates an endpoint with parent, provider, upstream and public_url', async () => {
    const lambdaId = await createLambda('hello');
    const res = await createEndpoint(lambdaId, '/hello');
    expect(res.status).toBe(201);
    const p = res.json.properties;
    expect(res.json.resource_type).toBe('Gestalt::Resource::ApiEndpoint');
    expect(p.public_url).toBe('https://gw.example.com/acme/hello');
    expect(p.parent).toMatchObject({ id: apiId, name: 'acme' });
    expect(p.provider.locations).toEqual([p.location_id]);
    expect(p.upstream_url).toContain(lambdaId);
    expect(p.methods).toEqual(['GET', 'POST']);
    expect(emu.endpoints()).toEqual([res.json]);
  });

  it('lists a lambda\'s endpoints org-wide with implementation filters', async () => {
    const a = await createLambda('a');
    const b = await createLambda('b');
    const epA = (await createEndpoint(a, '/a')).json.id;
    await createEndpoint(b, '/b');
    const res = await call('GET', `/root/apiendpoints?expand=true&implementation_type=lambda&implementation_id=${a}`);
    expect(res.json.map((e: { id: string }) => e.id)).toEqual([epA]);
    const ofApi = await call('GET', `/root/apis/${apiId}/apiendpoints`);
    expect(ofApi.json).toHaveLength(2);
  });

  it('rejects an unknown API with 422, missing fields and a non-lambda implementation with 400', async () => {
    const lambdaId = await createLambda('a');
    const unknownApi = await call('POST', `/root/apis/${MISSING_ID}/apiendpoints`, {
      body: { name: 'x', properties: { implementation_type: 'lambda', implementation_id: lambdaId, resource: '/x' } },
    });
    expect(unknownApi).toMatchObject({ status: 422, json: { code: 422, message: `No Api with id ${MISSING_ID}.` } });
    const noResource = await call('POST', `/root/apis/${apiId}/apiendpoints`, {
      body: { name: 'x', properties: { implementation_type: 'lambda', implementation_id: lambdaId } },
    });
    expect(noResource.status).toBe(400);
    expect((await createEndpoint(MISSING_ID, '/x')).status).toBe(400);
    expect(emu.endpoints()).toEqual([]);
  });

  it('has no public_url and 404s an unknown API on Meta 1.5', async () => {
    await emu.close();
    await start({ version: '1.5' });
    const lambdaId = await createLambda('a');
    const res = await createEndpoint(lambdaId, '/a');
    expect(res.status).toBe(201);
    expect(res.json.properties).not.toHaveProperty('public_url');
    const unknownApi = await call('POST', `/root/apis/${MISSING_ID}/apiendpoints`, {
      body: { name: 'x', properties: { implementation_type: 'lambda', implementation_id: lambdaId, resource: '/x' } },
    });
    expect(unknownApi.status).toBe(404);
  });
});

describe('secrets', () => {
  it('lists the environment\'s secrets (links unless expand=true), with item keys only, and gets one by id', async () => {
    const id = emu.seedSecret(envId, { name: 'db-credentials', keys: ['username', 'password'] });
    const otherEnv = emu.seedEnvironment({ name: 'prod' });
    emu.seedSecret(otherEnv, { name: 'elsewhere' });
    const links = await call('GET', `/root/environments/${envId}/secrets`);
    expect(links.json).toEqual([{ typeId: expect.any(String), id, name: 'db-credentials', href: `/root/secrets/${id}` }]);
    const full = await call('GET', `/root/environments/${envId}/secrets?expand=true`);
    expect(full.json).toHaveLength(1);
    expect(full.json[0]).toMatchObject({ id, resource_type: 'Gestalt::Resource::Secret', properties: { provider: { id: emu.caasProviderId() }, items: [{ key: 'username' }, { key: 'password' }] } });
    expect((await call('GET', `/root/secrets/${id}`)).json.name).toBe('db-credentials');
    expect((await call('GET', `/root/environments/${otherEnv}/secrets/${id}`)).status).toBe(404);
    expect((await call('GET', '/root/secrets?name=elsewhere')).json).toHaveLength(1);
  });
});

describe('lambda create: secrets, schedule, headers, pre_warm, isolate', () => {
  const mountOf = (secretId: string, over: Record<string, unknown> = {}) => ({ mount_type: 'env', secret_id: secretId, path: 'DB_PASSWORD', secret_key: 'password', ...over });

  it('stores and returns them as sent', async () => {
    const secretId = emu.seedSecret(envId, { name: 'db', keys: ['password'] });
    const props = {
      headers: { 'Content-Type': 'application/json' },
      periodic_info: { schedule: 'R/2024-01-01T02:00:00Z/PT1H', timezone: 'UTC', payload: { eventName: 'tick', data: { n: 1 } } },
      secrets: [mountOf(secretId), { mount_type: 'directory', secret_id: secretId, path: '/etc/db' }],
      pre_warm: 1,
      isolate: true,
    };
    const res = await call('POST', lambdasPath(), { body: lambdaPayload('s', props) });
    expect(res.status).toBe(201);
    expect(res.json.properties).toMatchObject(props);
    expect(emu.lambdas()[0].properties).toMatchObject(props);
  });

  it('answers 400 and leaves a Failed lambda for wrong types and malformed mounts', async () => {
    const secretId = emu.seedSecret(envId, { name: 'db', keys: ['password'] });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ headers: { Accept: 1 } }, /\/properties\/headers: error\.expected\.jsobject/],
      [{ pre_warm: '1' }, /\/properties\/pre_warm: error\.expected\.int/],
      [{ isolate: 'yes' }, /\/properties\/isolate: error\.expected\.jsboolean/],
      [{ secrets: {} }, /\/properties\/secrets: error\.expected\.jsarray/],
      [{ secrets: [mountOf(secretId, { mount_type: 'volume' })] }, /secrets\(0\)\/mount_type: must be one of 'directory', 'file' or 'env'/],
      [{ secrets: [mountOf(secretId, { mount_type: 'file', path: undefined, secret_key: undefined })] }, /secrets\(0\)\/path: error\.path\.missing, .*secrets\(0\)\/secret_key: error\.path\.missing/],
      [{ secrets: [mountOf('not-a-uuid')] }, /secrets\(0\)\/secret_id: error\.expected\.uuid/],
    ];
    for (const [props, message] of cases) {
      const res = await call('POST', lambdasPath(), { body: lambdaPayload(JSON.stringify(props), props) });
      expect(res.status, JSON.stringify(props)).toBe(400);
      expect(res.json.message).toMatch(/^Failed to parse payload: /);
      expect(res.json.message).toMatch(message);
    }
    expect(emu.lambdas().map((l) => l.resource_state)).toEqual(Array(cases.length).fill('Gestalt::Resource::State::Failed'));
  });

  it('answers 500 and leaves a Failed lambda when a secret is unknown, elsewhere, or on another CaaS provider', async () => {
    const otherEnv = emu.seedEnvironment({ name: 'prod' });
    const here = emu.seedSecret(envId, { name: 'db', keys: ['password'] });
    const there = emu.seedSecret(otherEnv, { name: 'db', keys: ['password'] });
    const foreign = emu.seedSecret(envId, { name: 'far', keys: ['password'], providerId: emu.seedLambdaProvider({ name: 'other' }) });
    const bare = emu.seedLambdaProvider({ name: 'bare', computeProviderId: null });
    const cases: [Record<string, unknown>, string][] = [
      [{ secrets: [mountOf(MISSING_ID)] }, `Secret '${MISSING_ID}' does not exist`],
      [{ secrets: [mountOf(here), mountOf(foreign, { path: 'B' })] }, 'Secrets must have the same CaaS provider'],
      [{ secrets: [mountOf(foreign)] }, `provider '${providerId}' did not have same CaaS provider as mounted Secrets`],
      [{ secrets: [mountOf(here), mountOf(there, { path: 'B' })] }, 'All mounted Secrets must belong to the same Environment'],
      [{ secrets: [mountOf(there)] }, 'must belong to the same Environment as all mounted Secrets'],
      [{ secrets: [mountOf(here)], provider: { id: bare, locations: [] } }, "did not have '.properties.config.env.public.META_COMPUTE_PROVIDER_ID'"],
    ];
    for (const [props, message] of cases) {
      const res = await call('POST', lambdasPath(), { body: lambdaPayload('x', props) });
      expect(res.status, message).toBe(500);
      expect(res.json.message).toContain(message);
    }
    expect(emu.lambdas().every((l) => l.resource_state === 'Gestalt::Resource::State::Failed')).toBe(true);
    const ok = await call('POST', lambdasPath(), { body: lambdaPayload('ok', { secrets: [mountOf(here)] }) });
    expect(ok.status).toBe(201);
  });

  it('runs the same checks on PATCH, changing nothing when they fail', async () => {
    const id = await createLambda('p');
    const bad = await call('PATCH', `${lambdasPath()}/${id}`, { body: [{ op: 'add', path: '/properties/secrets', value: [mountOf(MISSING_ID)] }] });
    expect(bad.status).toBe(500);
    expect(bad.json.message).toBe(`Secret '${MISSING_ID}' does not exist`);
    expect(emu.lambdas()[0].properties).not.toHaveProperty('secrets');
    const wrong = await call('PATCH', `${lambdasPath()}/${id}`, { body: [{ op: 'replace', path: '/properties/isolate', value: 'no' }] });
    expect(wrong.status).toBe(400);
    expect(emu.lambdas()[0].properties).not.toHaveProperty('isolate');
  });
});

describe('API endpoint options and PATCH', () => {
  const post = (lambdaId: string, props: Record<string, unknown>) =>
    call('POST', `/root/apis/${apiId}/apiendpoints`, { body: { name: 'e', properties: { implementation_type: 'lambda', implementation_id: lambdaId, resource: '/e', methods: ['GET'], ...props } } });
  const security = { enabled: true, users: [], groups: [] };

  it('stores options as sent; the upstream follows synchronous and is_http_aware; hosts make the public URL', async () => {
    const lambdaId = await createLambda('a');
    const plugins = { rateLimit: { enabled: true, perMinute: 60 }, gestaltSecurity: security };
    const res = await post(lambdaId, { synchronous: true, is_http_aware: true, hosts: ['api.example.com'], plugins });
    expect(res.status).toBe(201);
    expect(res.json.properties).toMatchObject({ synchronous: true, is_http_aware: true, hosts: ['api.example.com'], plugins });
    expect(res.json.properties.upstream_url).toBe(`http://laser.gestalt.local:9000/lambdas/${lambdaId}/invokeSyncHA`);
    expect(res.json.properties.public_url).toBe('https://api.example.com/acme/e');
    expect((await post(lambdaId, { synchronous: false })).json.properties.upstream_url).toMatch(/\/invoke$/);
    expect((await post(lambdaId, {})).json.properties.upstream_url).toMatch(/\/invokeSync$/);
  });

  it('answers 400 for wrongly typed options and plugins', async () => {
    const lambdaId = await createLambda('a');
    for (const props of [{ methods: 'GET' }, { synchronous: 'yes' }, { hosts: 'a.example.com' }, { plugins: [] }, { plugins: { rateLimit: { enabled: true } } }, { plugins: { gestaltSecurity: { enabled: 'on' } } }]) {
      const res = await post(lambdaId, props);
      expect(res.status, JSON.stringify(props)).toBe(400);
      expect(res.json.message).toMatch(/^Failed to parse payload: /);
    }
    expect(emu.endpoints()).toEqual([]);
  });

  it('PATCHes an endpoint org-wide or under its API: recomputes the upstream, fills gestaltSecurity\'s users, bumps modified', async () => {
    const lambdaId = await createLambda('a');
    const created = (await post(lambdaId, { plugins: { gestaltSecurity: { enabled: false, users: [], groups: [] } } })).json;
    const res = await call('PATCH', `/root/apiendpoints/${created.id}`, {
      body: [
        { op: 'replace', path: '/properties/methods', value: ['GET', 'PUT'] },
        { op: 'add', path: '/properties/synchronous', value: false },
        { op: 'replace', path: '/properties/plugins', value: { rateLimit: { enabled: true, perMinute: 5 }, gestaltSecurity: security } },
      ],
    });
    expect(res.status).toBe(200);
    const p = res.json.properties;
    expect(p.methods).toEqual(['GET', 'PUT']);
    expect(p.upstream_url).toMatch(/\/invoke$/);
    expect(p.plugins.rateLimit).toEqual({ enabled: true, perMinute: 5 });
    expect(p.plugins.gestaltSecurity.users).toEqual([expect.stringMatching(/^[0-9a-f-]{36}$/)]);
    expect(Date.parse(res.json.modified.timestamp)).toBeGreaterThan(Date.parse(created.modified.timestamp));
    expect(emu.endpoints()[0].properties.methods).toEqual(['GET', 'PUT']);
    const underApi = await call('PATCH', `/root/apis/${apiId}/apiendpoints/${created.id}`, { body: [{ op: 'add', path: '/properties/hosts', value: ['h.example.com'] }] });
    expect(underApi.json.properties.public_url).toBe('https://h.example.com/acme/e');
  });

  it('answers 404 for a Failed endpoint (the gateway never had it) and 400 for a bad result, changing nothing', async () => {
    const lambdaId = await createLambda('a');
    const id = (await post(lambdaId, {})).json.id;
    const bad = await call('PATCH', `/root/apiendpoints/${id}`, { body: [{ op: 'replace', path: '/properties/methods', value: 'GET' }] });
    expect(bad.status).toBe(400);
    emu.setResourceState(id, 'Failed');
    const failed = await call('PATCH', `/root/apiendpoints/${id}`, { body: [{ op: 'replace', path: '/properties/methods', value: ['PUT'] }] });
    expect(failed.status).toBe(404);
    expect(failed.json.message).toBe(`No ApiEndpoint with ID '${id}' was found in gestalt-api-gateway`);
    expect(emu.endpoints()[0].properties.methods).toEqual(['GET']);
    expect((await call('PATCH', `/root/apiendpoints/${MISSING_ID}`, { body: [] })).status).toBe(404);
  });
});

describe('deletes', () => {
  it('deletes a lambda with 204 and keeps its endpoints', async () => {
    const id = await createLambda('a');
    await createEndpoint(id, '/a');
    const res = await call('DELETE', `${lambdasPath()}/${id}?force=true`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(emu.lambdas()).toEqual([]);
    expect(emu.endpoints()).toHaveLength(1);
    expect((await call('DELETE', `${lambdasPath()}/${id}`)).status).toBe(404);
  });

  it('deletes an endpoint with 204, then 404', async () => {
    const id = await createLambda('a');
    const ep = (await createEndpoint(id, '/a')).json.id;
    expect((await call('DELETE', `/root/apiendpoints/${ep}`)).status).toBe(204);
    expect(emu.endpoints()).toEqual([]);
    const again = await call('DELETE', `/root/apiendpoints/${ep}`);
    expect(again.status).toBe(404);
    expect(again.json.code).toBe(404);
  });
});

describe('policy', () => {
  it('answers 409 on a denied write without changing state, 403 on a denied read', async () => {
    const id = await createLambda('a');
    emu.setPolicy((req) => req.path.includes('/lambdas'));
    const create = await call('POST', lambdasPath(), { body: lambdaPayload('b') });
    expect(create.status).toBe(409);
    expect(create.json.code).toBe(409);
    expect(create.json.message).toMatch(/^You do not have permission to perform this action\./);
    const patch = await call('PATCH', `${lambdasPath()}/${id}`, {
      body: [{ op: 'replace', path: '/name', value: 'renamed' }],
    });
    expect(patch.status).toBe(409);
    expect((await call('DELETE', `${lambdasPath()}/${id}`)).status).toBe(409);
    const read = await call('GET', `${lambdasPath()}/${MISSING_ID}`);
    expect(read.status).toBe(403); // not 404: policy is checked before existence
    expect(read.json.message).toMatch(/^You do not have permission to perform this action\./);
    expect(emu.lambdas().map((l) => l.name)).toEqual(['a']);

    emu.setPolicy(null);
    expect((await call('GET', `${lambdasPath()}/${id}`)).status).toBe(200);
  });
});

describe('injected failures', () => {
  it('answers a status failure for the first N matching requests only', async () => {
    emu.injectFailure({ kind: 'status', status: 502, count: 2, match: (r) => r.method === 'GET' });
    const first = await call('GET', '/root');
    expect(first).toMatchObject({ status: 502, json: { code: 502 } });
    expect((await call('GET', '/root')).status).toBe(502);
    expect((await call('GET', '/root')).status).toBe(200);
    expect(emu.requests.map((r) => r.status)).toEqual([502, 502, 200]);
  });

  it('defaults to one 503 and can be cleared', async () => {
    emu.injectFailure({ kind: 'status' });
    expect((await call('GET', '/root')).status).toBe(503);
    expect((await call('GET', '/root')).status).toBe(200);
    emu.injectFailure({ kind: 'status', count: 5 });
    emu.clearFailures();
    expect((await call('GET', '/root')).status).toBe(200);
  });

  it('resets the connection', async () => {
    emu.injectFailure({ kind: 'reset' });
    await expect(call('GET', '/root')).rejects.toThrow();
    expect(emu.requests[0]?.status).toBe(0);
    expect((await call('GET', '/root')).status).toBe(200);
  });

  it('never answers a timeout; the client gives up', async () => {
    emu.injectFailure({ kind: 'timeout' });
    await expect(call('GET', '/root', { signal: AbortSignal.timeout(200) })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    expect(emu.requests[0]?.status).toBe(0);
  });

  it('stores the lambda before timing out with afterHandling', async () => {
    emu.injectFailure({ kind: 'timeout', afterHandling: true, match: (r) => r.method === 'POST' });
    const res = call('POST', lambdasPath(), { body: lambdaPayload('slow'), signal: AbortSignal.timeout(300) });
    await expect(res).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(emu.lambdas().map((l) => l.name)).toEqual(['slow']);
    expect((await call('GET', `${lambdasPath()}?name=slow`)).json).toHaveLength(1);
  });

  it('fails a seeded fraction of requests, the same way on every run', async () => {
    const pattern = async (): Promise<number[]> => {
      emu.clearRequests();
      emu.clearFailures();
      emu.injectFailure({ kind: 'status', fraction: 0.5, seed: 42 });
      for (let i = 0; i < 20; i++) await call('GET', '/root');
      return emu.requests.map((r) => r.status);
    };
    const first = await pattern();
    expect(first.filter((s) => s === 503).length).toBeGreaterThan(3);
    expect(first.filter((s) => s === 200).length).toBeGreaterThan(3);
    expect(await pattern()).toEqual(first);
  });
});

describe('latency, logging and close', () => {
  it('delays every answer by the configured latency', async () => {
    emu.setLatency(150);
    const t0 = Date.now();
    await call('GET', '/root');
    await call('GET', `/root/environments/${envId}`, { auth: null });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(emu.requests.map((r) => r.status)).toEqual([200, 401]);
  });

  it('logs method, path, query and parsed body, and clears the log', async () => {
    await call('POST', lambdasPath(), { body: lambdaPayload('logged') });
    await call('GET', `${lambdasPath()}?expand=true&name=logged`);
    const [post, get] = emu.requests;
    expect(post).toMatchObject({ method: 'POST', path: lambdasPath(), status: 201, body: { name: 'logged' } });
    expect(get).toMatchObject({ method: 'GET', query: { expand: ['true'], name: ['logged'] }, status: 200 });
    expect(post!.at).toBeLessThanOrEqual(get!.at);
    const log = emu.requests;
    emu.clearRequests();
    expect(log).toHaveLength(0);
  });

  it('closes while a request is held open', async () => {
    emu.injectFailure({ kind: 'timeout' });
    const pending = call('GET', '/root').catch((err: unknown) => err);
    while (emu.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
    await emu.close();
    expect(await pending).toBeInstanceOf(Error);
    await expect(fetch(`${emu.url}/root`)).rejects.toThrow();
  });
});
