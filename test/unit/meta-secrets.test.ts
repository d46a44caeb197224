// Secret mounts resolved against the environment's secrets: Meta's ids in Meta's shape, or one problem per mistake
// at the entry's file:line, for everything Meta's Laser step would reject after storing the lambda.
import { describe, expect, it } from 'vitest';
import type { SecretMountSetting } from '../../src/config/types.js';
import type { MetaResource } from '../../src/gestalt/meta/client.js';
import { computeProviderOf, resolveSecretMounts } from '../../src/gestalt/meta/secrets.js';

const ENV = 'e7b3ca8b-5b9a-4a51-8309-3ced4718e41f';
const CAAS = '2f9b2c1e-0000-4000-8000-000000000001';
const OTHER_CAAS = '2f9b2c1e-0000-4000-8000-000000000002';
const secret = (id: string, name: string, keys: string[] | undefined, provider = CAAS): MetaResource => ({
  id,
  name,
  properties: { provider: { id: provider, name: 'kube' }, ...(keys ? { items: keys.map((key) => ({ key })) } : {}) },
});
const DB = secret('5a1f0f3e-0000-4000-8000-000000000001', 'db', ['username', 'password']);
const TLS = secret('5a1f0f3e-0000-4000-8000-000000000002', 'tls', ['cert.pem']);
const ctx = (secrets: MetaResource[], computeProviderId: string | undefined = CAAS) => ({ environmentId: ENV, secrets, computeProviderId });
const mount = (over: Partial<SecretMountSetting>): SecretMountSetting => ({ source: 'f.yml:3', name: 'db', mount: 'env', path: 'DB_PASSWORD', key: 'password', ...over });

describe('resolveSecretMounts', () => {
  it('turns names and ids into Meta\'s mounts', () => {
    const result = resolveSecretMounts(
      [mount({}), mount({ name: undefined, id: TLS.id, mount: 'file', path: '/etc/tls/cert.pem', key: 'cert.pem' }), mount({ mount: 'directory', path: '/etc/db', key: undefined })],
      ctx([DB, TLS]),
    );
    expect(result).toEqual({
      problems: [],
      mounts: [
        { mount_type: 'env', secret_id: DB.id, path: 'DB_PASSWORD', secret_key: 'password' },
        { mount_type: 'file', secret_id: TLS.id, path: '/etc/tls/cert.pem', secret_key: 'cert.pem' },
        { mount_type: 'directory', secret_id: DB.id, path: '/etc/db' },
      ],
    });
  });

  it('names the entry and the environment\'s secrets for an unknown name or id', () => {
    expect(resolveSecretMounts([mount({ source: 'f.yml:7', name: 'dbb' })], ctx([DB, TLS])).problems).toEqual([
      { variable: 'f.yml:7', message: `secret 'dbb' does not exist in environment ${ENV}; create it in Gestalt first, or fix the name (its secrets are: db, tls).` },
    ]);
    expect(resolveSecretMounts([mount({ name: undefined, id: '5a1f0f3e-0000-4000-8000-00000000000f' })], ctx([])).problems[0]?.message).toBe(
      `no secret with id 5a1f0f3e-0000-4000-8000-00000000000f in environment ${ENV} (Meta mounts only secrets of the lambda's own environment); its secrets are: (none).`,
    );
  });

  it('asks for an id when a name is ambiguous', () => {
    const twin = secret('5a1f0f3e-0000-4000-8000-000000000009', 'db', ['password']);
    expect(resolveSecretMounts([mount({})], ctx([DB, twin])).problems[0]?.message).toMatch(/^2 secrets are named 'db' .*name the one to mount with id:\.$/);
  });

  it('checks the item key when Meta lists the items, and trusts it when it lists none', () => {
    expect(resolveSecretMounts([mount({ key: 'pass' })], ctx([DB])).problems[0]?.message).toBe("secret 'db' has no item 'pass'; its items are: username, password.");
    expect(resolveSecretMounts([mount({ key: 'anything' })], ctx([secret(DB.id, 'db', undefined)])).problems).toEqual([]);
  });

  it('rejects secrets of two CaaS providers, or of another provider than the lambda provider\'s', () => {
    const far = secret('5a1f0f3e-0000-4000-8000-000000000003', 'far', ['k'], OTHER_CAAS);
    const both = resolveSecretMounts([mount({}), mount({ source: 'f.yml:9', name: 'far', key: 'k', path: 'K' })], ctx([DB, far]));
    expect(both.mounts).toEqual([]);
    expect(both.problems).toEqual([{ variable: 'f.yml:3', message: `the secrets of this function live on different CaaS providers (${CAAS}, ${OTHER_CAAS}); Meta mounts secrets of one provider only, so use secrets from one provider.` }]);
    const foreign = resolveSecretMounts([mount({ source: 'f.yml:9', name: 'far', key: 'k', path: 'K' })], ctx([far]));
    expect(foreign.problems[0]).toEqual({ variable: 'f.yml:9', message: `secret 'far' is on CaaS provider ${OTHER_CAAS}, but the lambda provider (GESTALT_LAMBDA_PROVIDER_ID) runs on ${CAAS}; Meta rejects the lambda: use a secret created on that provider.` });
    // Without the lambda provider's compute provider there is nothing to compare against.
    expect(resolveSecretMounts([mount({ name: 'far', key: 'k' })], { environmentId: ENV, secrets: [far] }).problems).toEqual([]);
  });
});

describe('computeProviderOf', () => {
  it('reads META_COMPUTE_PROVIDER_ID from an object config or JSON text, else nothing', () => {
    const provider = (config: unknown): MetaResource => ({ id: 'p', name: 'laser', properties: { config } });
    expect(computeProviderOf(provider({ env: { public: { META_COMPUTE_PROVIDER_ID: CAAS.toUpperCase() } } }))).toBe(CAAS);
    expect(computeProviderOf(provider(JSON.stringify({ env: { public: { META_COMPUTE_PROVIDER_ID: CAAS } } })))).toBe(CAAS);
    expect(computeProviderOf(provider('{not json'))).toBeUndefined();
    expect(computeProviderOf(provider({}))).toBeUndefined();
    expect(computeProviderOf(undefined)).toBeUndefined();
  });
});
