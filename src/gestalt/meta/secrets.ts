import type { FunctionSpec } from '../../artifacts/functions.js';
import type { SecretMountSetting } from '../../config/types.js';
import { ConfigError, type Problem } from '../../errors.js';
import type { MetaClient, MetaResource } from './client.js';
import { metaFailure } from './errors.js';

// Secret mounts: the functions file names secrets of the environment; Meta wants their ids. Meta checks the
// mounts only after it has stored the lambda (its Laser step), so a bad mount leaves a Failed lambda and a 500:
// everything it would reject is checked here first, against the environment's secrets, before any write.

/** A lambda's `properties.secrets` entry, as Meta's SecretMount reads it. */
export interface SecretMountPayload {
  mount_type: 'env' | 'file' | 'directory';
  secret_id: string;
  path: string;
  secret_key?: string;
}

export interface SecretContext {
  environmentId: string;
  /** The environment's Secret resources (GET …/environments/{id}/secrets?expand=true). */
  secrets: MetaResource[];
  /** The lambda provider's CaaS provider (its config.env.public.META_COMPUTE_PROVIDER_ID), when it says. */
  computeProviderId?: string;
}

/**
 * The secret mounts of every function that has some, resolved against the environment's secrets; reads the
 * secrets (and the lambda provider, for its CaaS provider) only when a function mounts one. Every problem is
 * a ConfigError naming the entry's file:line.
 */
export async function resolveAllMounts(meta: MetaClient, org: string, environmentId: string, providerId: string, functions: FunctionSpec[], knownProvider?: MetaResource): Promise<Map<string, SecretMountPayload[]>> {
  const resolved = new Map<string, SecretMountPayload[]>();
  const withSecrets = functions.filter((f) => f.secrets?.length);
  if (withSecrets.length === 0) return resolved;
  const [secrets, provider] = await Promise.all([
    meta.list(`/environments/${environmentId}/secrets`).catch((err: unknown) => Promise.reject(metaFailure(`list the secrets of environment ${environmentId}`, err, org))),
    // open() has usually read the provider already; read it here only when it could not.
    knownProvider ?? (providerId ? meta.get(`/providers/${providerId}`).catch(() => undefined) : Promise.resolve(undefined)),
  ]);
  const ctx: SecretContext = { environmentId, secrets, computeProviderId: computeProviderOf(provider) };
  const problems = new Map<string, Problem>(); // functions sharing a defaults: entry share its problems
  for (const fn of withSecrets) {
    const result = resolveSecretMounts(fn.secrets ?? [], ctx);
    for (const p of result.problems) problems.set(`${p.variable}\n${p.message}`, p);
    resolved.set(fn.name, result.mounts);
  }
  if (problems.size > 0) throw new ConfigError([...problems.values()]);
  return resolved;
}

/** The mounts Meta expects for one function, or the problems (each naming the file:line of its entry). */
export function resolveSecretMounts(mounts: SecretMountSetting[], ctx: SecretContext): { mounts: SecretMountPayload[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const resolved: { mount: SecretMountSetting; secret: MetaResource }[] = [];
  for (const mount of mounts) {
    const secret = findSecret(mount, ctx, problems);
    if (!secret) continue;
    const items = itemKeys(secret);
    if (mount.key !== undefined && items && !items.includes(mount.key)) {
      problems.push({ variable: mount.source, message: `secret '${secret.name}' has no item '${mount.key}'; its items are: ${items.join(', ') || '(none)'}.` });
      continue;
    }
    resolved.push({ mount, secret });
  }
  // Meta runs a lambda with secrets on the CaaS provider that holds them: one provider, the lambda provider's own.
  const providers = [...new Set(resolved.map((r) => providerOf(r.secret)).filter((p): p is string => p !== undefined))];
  if (providers.length > 1) {
    const first = resolved[0] as { mount: SecretMountSetting };
    problems.push({ variable: first.mount.source, message: `the secrets of this function live on different CaaS providers (${providers.join(', ')}); Meta mounts secrets of one provider only, so use secrets from one provider.` });
  } else if (providers.length === 1 && ctx.computeProviderId && providers[0] !== ctx.computeProviderId) {
    const first = resolved.find((r) => providerOf(r.secret) === providers[0]) as { mount: SecretMountSetting; secret: MetaResource };
    problems.push({ variable: first.mount.source, message: `secret '${first.secret.name}' is on CaaS provider ${providers[0]}, but the lambda provider (GESTALT_LAMBDA_PROVIDER_ID) runs on ${ctx.computeProviderId}; Meta rejects the lambda: use a secret created on that provider.` });
  }
  if (problems.length > 0) return { mounts: [], problems };
  return { mounts: resolved.map(({ mount, secret }) => toPayload(mount, secret.id)), problems };
}

function findSecret(mount: SecretMountSetting, ctx: SecretContext, problems: Problem[]): MetaResource | undefined {
  const known = () => ctx.secrets.map((s) => s.name).sort().join(', ') || '(none)';
  if (mount.id !== undefined) {
    const byId = ctx.secrets.find((s) => s.id.toLowerCase() === mount.id);
    if (!byId) problems.push({ variable: mount.source, message: `no secret with id ${mount.id} in environment ${ctx.environmentId} (Meta mounts only secrets of the lambda's own environment); its secrets are: ${known()}.` });
    return byId;
  }
  const byName = ctx.secrets.filter((s) => s.name === mount.name);
  if (byName.length === 0) {
    problems.push({ variable: mount.source, message: `secret '${mount.name}' does not exist in environment ${ctx.environmentId}; create it in Gestalt first, or fix the name (its secrets are: ${known()}).` });
    return undefined;
  }
  if (byName.length > 1) {
    problems.push({ variable: mount.source, message: `${byName.length} secrets are named '${mount.name}' in environment ${ctx.environmentId} (${byName.map((s) => s.id).join(', ')}); name the one to mount with id:.` });
    return undefined;
  }
  return byName[0];
}

function toPayload(mount: SecretMountSetting, secretId: string): SecretMountPayload {
  return { mount_type: mount.mount, secret_id: secretId, path: mount.path, ...(mount.key !== undefined ? { secret_key: mount.key } : {}) };
}

/** The item keys Meta keeps for a secret (values are never stored in Meta); undefined when it lists none. */
function itemKeys(secret: MetaResource): string[] | undefined {
  const items = secret.properties?.items;
  if (!Array.isArray(items)) return undefined;
  return items.map((i) => (i && typeof i === 'object' ? String((i as { key?: unknown }).key ?? '') : '')).filter(Boolean);
}

function providerOf(resource: MetaResource): string | undefined {
  const provider = resource.properties?.provider;
  const id = provider && typeof provider === 'object' ? (provider as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? id.toLowerCase() : undefined;
}

/** META_COMPUTE_PROVIDER_ID from a lambda provider resource (config may be an object, or JSON text on old Meta). */
export function computeProviderOf(provider: MetaResource | undefined): string | undefined {
  let config = provider?.properties?.config;
  if (typeof config === 'string') {
    try {
      config = JSON.parse(config) as unknown;
    } catch {
      return undefined;
    }
  }
  const id = (config as { env?: { public?: { META_COMPUTE_PROVIDER_ID?: unknown } } } | undefined)?.env?.public?.META_COMPUTE_PROVIDER_ID;
  return typeof id === 'string' && id ? id.toLowerCase() : undefined;
}
