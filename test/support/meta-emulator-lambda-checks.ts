// What Meta checks in a lambda's properties before its Laser step (gestalt-meta: LambdaSpec's
// LaserLambdaProperties, ContainerSpec's SecretMount reads, and LaserProvider.toLaserLambda). Both create and
// PATCH run these on the resulting document. Parse errors are 400 `Failed to parse payload: …`; the secret rules
// are plain errors there, answered 500.
import { MetaError, PROVIDER_TYPES, isObject, isUuid } from './meta-emulator-model.js';
import type { MetaState, Stored } from './meta-emulator-state.js';

type Check = (path: string, value: unknown, valid: (v: unknown) => boolean, expected: string) => void;

/** Play-JSON-style errors for the lambda's properties; empty when the payload parses. */
export function lambdaParseErrors(p: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const required: Check = (path, value, valid, expected) => {
    if (value === undefined || value === null) errors.push(`/properties/${path}: error.path.missing`);
    else if (!valid(value)) errors.push(`/properties/${path}: error.expected.${expected}`);
  };
  const optional: Check = (path, value, valid, expected) => {
    if (value !== undefined && value !== null && !valid(value)) errors.push(`/properties/${path}: error.expected.${expected}`);
  };
  required('public', p.public, (v) => typeof v === 'boolean', 'jsboolean');
  required('runtime', p.runtime, (v) => typeof v === 'string', 'jsstring');
  required('code_type', p.code_type, (v) => v === 'package' || v === 'code', 'package|code');
  required('memory', p.memory, Number.isInteger, 'int');
  required('cpus', p.cpus, (v) => typeof v === 'number' && Number.isFinite(v), 'jsnumber');
  required('timeout', p.timeout, Number.isInteger, 'int');
  required('handler', p.handler, (v) => typeof v === 'string', 'jsstring');
  const provider = p.provider;
  if (!isObject(provider)) required('provider', provider, () => false, 'jsobject');
  else required('provider/id', provider.id, isUuid, 'uuid');
  optional('package_url', p.package_url, (v) => typeof v === 'string', 'jsstring');
  optional('compressed', p.compressed, (v) => typeof v === 'boolean', 'jsboolean');
  optional('headers', p.headers, (v) => isObject(v) && Object.values(v).every((h) => typeof h === 'string'), 'jsobject');
  optional('pre_warm', p.pre_warm, Number.isInteger, 'int');
  optional('isolate', p.isolate, (v) => typeof v === 'boolean', 'jsboolean');
  if (p.secrets !== undefined && p.secrets !== null) {
    if (!Array.isArray(p.secrets)) errors.push('/properties/secrets: error.expected.jsarray');
    else p.secrets.forEach((m: unknown, i) => errors.push(...secretMountErrors(m, `/properties/secrets(${i})`)));
  }
  return errors;
}

/** ContainerSpec.SecretMount: mount_type picks the shape; env and file need secret_key, all need path. */
function secretMountErrors(mount: unknown, at: string): string[] {
  if (!isObject(mount)) return [`${at}: error.expected.jsobject`];
  const type = mount.mount_type;
  if (type !== 'env' && type !== 'file' && type !== 'directory') return [`${at}/mount_type: must be one of 'directory', 'file' or 'env'`];
  const errors: string[] = [];
  if (!isUuid(mount.secret_id)) errors.push(`${at}/secret_id: ${mount.secret_id === undefined ? 'error.path.missing' : 'error.expected.uuid'}`);
  if (typeof mount.path !== 'string') errors.push(`${at}/path: ${mount.path === undefined ? 'error.path.missing' : 'error.expected.jsstring'}`);
  if (type !== 'directory' && typeof mount.secret_key !== 'string') errors.push(`${at}/secret_key: ${mount.secret_key === undefined ? 'error.path.missing' : 'error.expected.jsstring'}`);
  return errors;
}

/**
 * The secret rules of LaserProvider.toLaserLambda, in its order: every mounted secret exists, they share one CaaS
 * provider and it is the lambda provider's META_COMPUTE_PROVIDER_ID, and they all sit in the lambda's environment.
 */
export function secretRuleError(state: MetaState, lambdaId: string, lambdaEnvId: string, p: Record<string, unknown>): string | undefined {
  const mounts = Array.isArray(p.secrets) ? (p.secrets as { secret_id: string }[]) : [];
  if (mounts.length === 0) return undefined;
  const secrets: Stored[] = [];
  for (const m of mounts) {
    const found = state.find('secret', m.secret_id);
    if (!found) return `Secret '${m.secret_id}' does not exist`;
    secrets.push(found);
  }
  const providerId = isObject(p.provider) ? String(p.provider.id) : '';
  const lambdaProvider = state.find('provider', providerId);
  const compute = computeProviderOf(lambdaProvider);
  if (!compute) return `Lambda '${lambdaId}' provider '${providerId}' did not have '.properties.config.env.public.META_COMPUTE_PROVIDER_ID'`;
  const providers = [...new Set(secrets.map((s) => (isObject(s.doc.properties.provider) ? String(s.doc.properties.provider.id) : '')))];
  if (providers.length > 1) return 'Secrets must have the same CaaS provider';
  if (providers[0] !== compute) return `Lambda '${lambdaId}' provider '${providerId}' did not have same CaaS provider as mounted Secrets`;
  const envs = [...new Set(secrets.map((s) => s.parentId))];
  if (envs.length > 1) return 'All mounted Secrets must belong to the same Environment';
  if (envs[0] !== lambdaEnvId) return `Lambda '${lambdaId}' must belong to the same Environment as all mounted Secrets`;
  return undefined;
}

function computeProviderOf(provider: Stored | undefined): string | undefined {
  if (provider?.doc.resource_type !== PROVIDER_TYPES.lambda.name) return undefined;
  const config = provider.doc.properties.config;
  const env = isObject(config) && isObject(config.env) && isObject(config.env.public) ? config.env.public : {};
  return typeof env.META_COMPUTE_PROVIDER_ID === 'string' ? env.META_COMPUTE_PROVIDER_ID : undefined;
}

/** Both checks for a lambda document; throws the error Meta would answer. */
export function checkLambda(state: MetaState, lambdaId: string, envId: string, properties: Record<string, unknown>): void {
  const errors = lambdaParseErrors(properties);
  if (errors.length > 0) throw new MetaError(400, `Failed to parse payload: ${errors.join(', ')}`);
  const rule = secretRuleError(state, lambdaId, envId, properties);
  if (rule) throw new MetaError(500, rule);
}
