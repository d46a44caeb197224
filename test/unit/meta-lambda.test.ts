// The Meta payloads and the patch computation: an unchanged redeploy must make no write at all, a changed one must
// touch exactly the fields that differ.
import { describe, expect, it } from 'vitest';
import type { PackagedFunction } from '../../src/artifacts/functions.js';
import type { JobContext } from '../../src/config/types.js';
import type { MetaResource } from '../../src/gestalt/meta/client.js';
import { describe as describeJob, endpointPayload, endpointUrl, lambdaPatch, lambdaPayload } from '../../src/gestalt/meta/lambda.js';

const PROVIDER = '3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c';
const job = { ref: 'feature-x', sha: '0123456789abcdef0123' } as JobContext;
const fn = (over: Partial<PackagedFunction> = {}): PackagedFunction => ({
  name: 'lambdas/feature-x/hello.zip', file: 'hello.zip', relPath: 'dist/hello.zip', absPath: '/p/dist/hello.zip',
  runtime: 'nodejs', handler: 'hello.zip', memory: 512, cpus: 0.1, timeout: 30, methods: ['GET', 'POST'], public: true,
  env: { STAGE: 'dev', REGION: 'eu' }, source: 'LAMBDA_ARTIFACTS', sha256: 'f'.repeat(64), size: 10, partSize: 8 << 20, partSha256: ['f'.repeat(64)], ...over,
});
const URL1 = 'https://b.s3.amazonaws.com/p/hello.zip';

describe('lambdaPayload', () => {
  it('has the original integration shape plus our settings', () => {
    expect(lambdaPayload(fn(), URL1, PROVIDER, job)).toEqual({
      name: 'lambdas/feature-x/hello.zip',
      description: 'deploy by gitlab, ref feature-x, sha 01234567',
      properties: {
        provider: { id: PROVIDER, locations: [] },
        public: true, cpus: 0.1, memory: 512, timeout: 30,
        code_type: 'package', package_url: URL1, compressed: true,
        headers: { Accept: 'text/plain' }, periodic_info: {},
        handler: 'hello.zip', runtime: 'nodejs', env: { STAGE: 'dev', REGION: 'eu' },
      },
    });
  });

  it('marks the package compressed only for .zip files (any case)', () => {
    const compressed = (file: string) => lambdaPayload(fn({ file }), URL1, PROVIDER, job).properties.compressed;
    expect([compressed('a.zip'), compressed('A.ZIP'), compressed('a.js'), compressed('a.tar.gz'), compressed('zip')]).toEqual([true, true, false, false, false]);
  });

  it('describes the deploy with the ref and the short sha', () => {
    expect(describeJob({ ref: 'main', sha: 'abcdef0123456789' } as JobContext)).toBe('deploy by gitlab, ref main, sha abcdef01');
  });
});

describe('lambdaPatch', () => {
  const desired = lambdaPayload(fn(), URL1, PROVIDER, job);
  const existing = (props: Record<string, unknown> = {}, description: string | undefined = 'old description'): MetaResource => ({
    id: 'l-1', name: desired.name, description,
    properties: { ...desired.properties, ...props },
  });

  it('makes no ops when everything managed is equal, even if the description differs', () => {
    expect(lambdaPatch(existing(), desired)).toEqual({ ops: [], changed: [], changes: [] });
  });

  it('replaces a changed field and brings the description along, first', () => {
    expect(lambdaPatch(existing({ memory: 256 }), desired)).toEqual({
      changed: ['memory'],
      changes: [{ field: 'memory', from: '256', to: '512' }],
      ops: [
        { op: 'replace', path: '/description', value: 'deploy by gitlab, ref feature-x, sha 01234567' },
        { op: 'replace', path: '/properties/memory', value: 512 },
      ],
    });
  });

  it('adds fields the lambda does not have, and adds the description when it has none', () => {
    const props = { ...desired.properties } as Record<string, unknown>;
    delete props.handler;
    const { ops, changed } = lambdaPatch({ id: 'l-1', name: 'x', properties: props }, desired);
    expect(changed).toEqual(['handler']);
    expect(ops).toEqual([
      { op: 'add', path: '/description', value: desired.description },
      { op: 'add', path: '/properties/handler', value: 'hello.zip' },
    ]);
  });

  it('says each change with its current and new value: env by names only, package URLs without their query', () => {
    const { changes } = lambdaPatch(
      existing({ handler: undefined, env: { TOKEN: 'old-secret-value', KEEP: '1' }, package_url: 'https://b/p/aaa/hello.zip?X-Amz-Signature=abc' }),
      { ...desired, properties: { ...desired.properties, env: { TOKEN: 'new-secret-value', ADDED: 'x' }, package_url: 'https://b/p/bbb/hello.zip' } },
    );
    expect(changes).toEqual([
      { field: 'package_url', from: 'https://b/p/aaa/hello.zip', to: 'https://b/p/bbb/hello.zip' },
      { field: 'handler', from: '(unset)', to: 'hello.zip' },
      { field: 'env', from: 'KEEP, TOKEN', to: 'ADDED, TOKEN (new value)' },
    ]);
    expect(JSON.stringify(changes)).not.toMatch(/secret-value|Signature/);
  });

  it('does not repeat a description that is already right', () => {
    expect(lambdaPatch(existing({ runtime: 'python3' }, desired.description), desired).ops).toEqual([
      { op: 'replace', path: '/properties/runtime', value: 'nodejs' },
    ]);
  });

  it('lists every managed field that differs, in a fixed order', () => {
    const { changed } = lambdaPatch(
      existing({ env: {}, compressed: false, public: false, timeout: 60, cpus: 0.2, memory: 128, runtime: 'go', handler: 'x', package_url: 'https://b/other.zip' }),
      desired,
    );
    expect(changed).toEqual(['package_url', 'handler', 'runtime', 'memory', 'cpus', 'timeout', 'public', 'compressed', 'env']);
  });

  it('ignores fields it does not manage (provider, code, others)', () => {
    expect(lambdaPatch(existing({ provider: { id: 'other' }, code: 'x', extra: 1 }), desired).ops).toEqual([]);
  });

  it('compares presigned package URLs without their query', () => {
    const want = lambdaPayload(fn(), `${URL1}?X-Amz-Signature=new&X-Amz-Date=2`, PROVIDER, job);
    expect(lambdaPatch(existing({ package_url: `${URL1}?X-Amz-Signature=old&X-Amz-Date=1` }), want).ops).toEqual([]);
    const moved = lambdaPatch(existing({ package_url: 'https://b.s3.amazonaws.com/p/other.zip?X-Amz-Signature=old' }), want);
    expect(moved.changed).toEqual(['package_url']);
    expect(moved.ops.at(-1)).toEqual({ op: 'replace', path: '/properties/package_url', value: `${URL1}?X-Amz-Signature=new&X-Amz-Date=2` });
  });

  it('compares env canonically: key order does not matter, values do', () => {
    expect(lambdaPatch(existing({ env: { REGION: 'eu', STAGE: 'dev' } }), desired).ops).toEqual([]);
    expect(lambdaPatch(existing({ env: { REGION: 'eu', STAGE: 'prod' } }), desired).changed).toEqual(['env']);
    expect(lambdaPatch(existing({ env: { REGION: 'eu' } }), desired).changed).toEqual(['env']);
  });

  it('treats a missing env as empty', () => {
    const none = lambdaPayload(fn({ env: {} }), URL1, PROVIDER, job);
    const props = { ...none.properties } as Record<string, unknown>;
    delete props.env;
    expect(lambdaPatch({ id: 'l', name: 'n', properties: props }, none).ops).toEqual([]);
  });

  it('accepts numbers Meta returns as strings, but not different ones', () => {
    expect(lambdaPatch(existing({ memory: '512', cpus: '0.1', timeout: '30' }), desired).ops).toEqual([]);
    expect(lambdaPatch(existing({ memory: '1024' }), desired).changed).toEqual(['memory']);
  });

  it('treats a lambda with no properties at all as needing every field added', () => {
    const { ops, changed } = lambdaPatch({ id: 'l', name: 'n' }, desired);
    expect(changed).toEqual(['package_url', 'handler', 'runtime', 'memory', 'cpus', 'timeout', 'public', 'compressed', 'env', 'headers']);
    expect(ops.every((o) => o.op === 'add')).toBe(true);
  });
});

describe('lambdaPayload and lambdaPatch: the functions file\'s Gestalt settings', () => {
  const mounts = [
    { mount_type: 'env' as const, secret_id: '5a1f0f3e-0000-4000-8000-000000000001', path: 'DB_PASSWORD', secret_key: 'password' },
    { mount_type: 'directory' as const, secret_id: '5a1f0f3e-0000-4000-8000-000000000002', path: '/etc/config' },
  ];
  const full = fn({
    headers: { 'Content-Type': 'application/json' },
    schedule: { interval: 'R/2024-01-01T02:00:00Z/PT1H', timezone: 'UTC', event: 'tick', data: { n: 1 } },
    preWarm: 2,
    isolate: true,
    secrets: [{ source: 'f:1', name: 'db', mount: 'env', path: 'DB_PASSWORD', key: 'password' }],
  });

  it('sends headers, periodic_info, secrets, pre_warm and isolate in Meta\'s shapes', () => {
    const props = lambdaPayload(full, URL1, PROVIDER, job, mounts).properties;
    expect(props.headers).toEqual({ 'Content-Type': 'application/json' });
    expect(props.periodic_info).toEqual({ schedule: 'R/2024-01-01T02:00:00Z/PT1H', timezone: 'UTC', payload: { eventName: 'tick', data: { n: 1 } } });
    expect(props.secrets).toEqual(mounts);
    expect(props.pre_warm).toBe(2);
    expect(props.isolate).toBe(true);
  });

  it('leaves the optional properties out when unset (the plain payload is unchanged)', () => {
    const props = lambdaPayload(fn(), URL1, PROVIDER, job).properties;
    expect(Object.keys(props)).not.toContain('secrets');
    expect(Object.keys(props)).not.toContain('pre_warm');
    expect(Object.keys(props)).not.toContain('isolate');
  });

  it('removes an optional setting the function dropped, and resets headers and periodic_info to the defaults', () => {
    const had = lambdaPayload(full, URL1, PROVIDER, job, mounts);
    const { ops, changed } = lambdaPatch({ id: 'l', name: had.name, description: had.description, properties: had.properties }, lambdaPayload(fn(), URL1, PROVIDER, job));
    expect(changed).toEqual(['headers', 'periodic_info', 'secrets', 'pre_warm', 'isolate']);
    expect(ops).toEqual([
      { op: 'replace', path: '/properties/headers', value: { Accept: 'text/plain' } },
      { op: 'replace', path: '/properties/periodic_info', value: {} },
      { op: 'remove', path: '/properties/secrets' },
      { op: 'remove', path: '/properties/pre_warm' },
      { op: 'remove', path: '/properties/isolate' },
    ]);
  });

  it('treats what Meta considers unset as unset: no periodic_info, empty secrets, pre_warm 0, isolate false', () => {
    const want = lambdaPayload(fn(), URL1, PROVIDER, job);
    const props = { ...want.properties, secrets: [], pre_warm: 0, isolate: false } as Record<string, unknown>;
    delete props.periodic_info;
    expect(lambdaPatch({ id: 'l', name: want.name, properties: props }, want).ops).toEqual([]);
  });

  it('compares secret mounts regardless of order, and values Meta answers as text', () => {
    const want = lambdaPayload(full, URL1, PROVIDER, job, mounts);
    const stored = { ...want.properties, secrets: [...mounts].reverse(), pre_warm: '2', isolate: 'true' };
    expect(lambdaPatch({ id: 'l', name: want.name, properties: stored }, want).ops).toEqual([]);
    const moved = { ...stored, secrets: [{ ...mounts[0], path: 'DB_PASS' }, mounts[1]] };
    expect(lambdaPatch({ id: 'l', name: want.name, description: want.description, properties: moved }, want).ops).toEqual([{ op: 'replace', path: '/properties/secrets', value: mounts }]);
  });

  it('shows changes with values, except env values and URL queries', () => {
    const want = lambdaPayload(fn({ env: { STAGE: 'prod', NEW: 'x' } }), `${URL1}?X-Amz-Signature=sig`, PROVIDER, job);
    const have = { ...want.properties, env: { STAGE: 'dev', OLD: 'y' }, package_url: 'https://b.s3.amazonaws.com/p/old.zip?X-Amz-Signature=old', memory: 128 };
    expect(lambdaPatch({ id: 'l', name: want.name, properties: have }, want).changes).toEqual([
      { field: 'package_url', from: 'https://b.s3.amazonaws.com/p/old.zip', to: URL1 },
      { field: 'memory', from: '128', to: '512' },
      { field: 'env', from: 'OLD, STAGE', to: 'NEW, STAGE (new value)' },
    ]);
  });
});

describe('endpointPayload', () => {
  it('uses the function name as the resource path', () => {
    expect(endpointPayload('lambdas/main/hello.zip', 'l-1', ['GET'])).toEqual({
      name: 'lambdas/main/hello.zip',
      properties: { implementation_type: 'lambda', implementation_id: 'l-1', resource: '/lambdas/main/hello.zip', methods: ['GET'] },
    });
  });
});

describe('endpointPayload with options', () => {
  it('adds only the options that are set, plugins in the gateway\'s shapes', () => {
    expect(endpointPayload('n', 'l-1', ['GET'], { synchronous: false, hosts: ['a.example.com'], rateLimitPerMinute: 10, gestaltSecurity: false })).toEqual({
      name: 'n',
      properties: {
        implementation_type: 'lambda', implementation_id: 'l-1', resource: '/n', methods: ['GET'],
        synchronous: false, hosts: ['a.example.com'],
        plugins: { rateLimit: { enabled: true, perMinute: 10 }, gestaltSecurity: { enabled: false, users: [], groups: [] } },
      },
    });
    expect(endpointPayload('n', 'l-1', ['GET'], { isHttpAware: true })).toEqual({
      name: 'n',
      properties: { implementation_type: 'lambda', implementation_id: 'l-1', resource: '/n', methods: ['GET'], is_http_aware: true },
    });
  });
});

describe('endpointUrl', () => {
  const ep = (properties: Record<string, unknown>): MetaResource => ({ id: 'e-1', name: 'n', properties });

  it('prefers public_url', () => {
    expect(endpointUrl(ep({ public_url: 'https://pub.example.com/acme/x', resource: '/x' }), 'acme', 'https://gw.example.com')).toBe('https://pub.example.com/acme/x');
  });

  it('falls back to gateway URL + API name + resource', () => {
    expect(endpointUrl(ep({ resource: '/lambdas/main/hello.zip' }), 'acme', 'https://gw.example.com')).toBe('https://gw.example.com/acme/lambdas/main/hello.zip');
    expect(endpointUrl(ep({ public_url: '', resource: '/x' }), 'acme', 'https://gw.example.com')).toBe('https://gw.example.com/acme/x');
  });

  it('is undefined without public_url and without a gateway URL or resource', () => {
    expect(endpointUrl(ep({ resource: '/x' }), 'acme', undefined)).toBeUndefined();
    expect(endpointUrl(ep({}), 'acme', 'https://gw.example.com')).toBeUndefined();
    expect(endpointUrl(undefined, 'acme', 'https://gw.example.com')).toBeUndefined();
  });
});
