import type { PackagedFunction } from '../../artifacts/functions.js';
import type { JobContext } from '../../config/types.js';
import type { SettingChange } from '../types.js';
import type { MetaResource, PatchOp } from './client.js';

export const FAILED_STATE = 'Gestalt::Resource::State::Failed';

/** The create payload, shaped as the original integration sent it, with our per-function settings. */
export function lambdaPayload(fn: PackagedFunction, packageUrl: string, providerId: string, job: Pick<JobContext, 'ref' | 'sha'>): { name: string; description: string; properties: Record<string, unknown> } {
  return {
    name: fn.name,
    description: describe(job),
    properties: {
      provider: { id: providerId, locations: [] },
      public: fn.public,
      cpus: fn.cpus,
      memory: fn.memory,
      timeout: fn.timeout,
      code_type: 'package',
      package_url: packageUrl,
      compressed: fn.file.toLowerCase().endsWith('.zip'),
      headers: { Accept: 'text/plain' },
      periodic_info: {},
      handler: fn.handler,
      runtime: fn.runtime,
      env: fn.env,
    },
  };
}

export function describe(job: Pick<JobContext, 'ref' | 'sha'>): string {
  return `deploy by gitlab, ref ${job.ref}, sha ${job.sha.slice(0, 8)}`;
}

// The properties deploy owns. Others (provider, headers, periodic_info…) are left as they are on update.
const MANAGED = ['package_url', 'handler', 'runtime', 'memory', 'cpus', 'timeout', 'public', 'compressed', 'env'] as const;

/**
 * JSON-Patch ops that bring an existing lambda to the desired properties, and the names of the fields
 * that differ. A presigned package URL is compared without its query (the signature changes on every
 * run; the object does not). The description only travels along with a real change, so an unchanged
 * redeploy makes no write at all.
 */
export function lambdaPatch(existing: MetaResource, desired: { description: string; properties: Record<string, unknown> }): { ops: PatchOp[]; changed: string[]; changes: SettingChange[] } {
  const current = existing.properties ?? {};
  const ops: PatchOp[] = [];
  const changed: string[] = [];
  const changes: SettingChange[] = [];
  for (const field of MANAGED) {
    const want = desired.properties[field];
    const have = current[field];
    if (same(field, have, want)) continue;
    changed.push(field);
    changes.push({ field, from: shown(field, have), to: shown(field, want) });
    ops.push({ op: field in current ? 'replace' : 'add', path: `/properties/${field}`, value: want });
  }
  if (ops.length > 0 && existing.description !== desired.description) {
    ops.unshift({ op: existing.description === undefined ? 'add' : 'replace', path: '/description', value: desired.description });
  }
  return { ops, changed, changes };
}

/** A setting's value as plan prints it: env by names only (values may be secrets), URLs without their query. */
function shown(field: string, value: unknown): string {
  if (value === undefined || value === null) return '(unset)';
  if (field === 'env') {
    const names = value && typeof value === 'object' ? Object.keys(value).sort() : [];
    return names.length ? `{${names.join(', ')}}` : '{}';
  }
  if (field === 'package_url' && typeof value === 'string') return stripQuery(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function same(field: string, have: unknown, want: unknown): boolean {
  if (field === 'package_url' && typeof have === 'string' && typeof want === 'string') return stripQuery(have) === stripQuery(want);
  if (field === 'env') return canonical(have ?? {}) === canonical(want ?? {});
  if (typeof want === 'number' && typeof have === 'string') return Number(have) === want;
  return canonical(have) === canonical(want);
}

function stripQuery(url: string): string {
  return url.split('?')[0] ?? url;
}

function canonical(value: unknown): string {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/** Endpoint create payload: the resource path is the function name, as the original did. */
export function endpointPayload(name: string, lambdaId: string, methods: string[]): object {
  return { name, properties: { implementation_type: 'lambda', implementation_id: lambdaId, resource: `/${name}`, methods } };
}

/** public_url when Meta computes it (≥ 1.6), else the gateway URL + API name + resource (1.5). */
export function endpointUrl(endpoint: MetaResource | undefined, apiName: string, gatewayUrl: string | undefined): string | undefined {
  const props = endpoint?.properties ?? {};
  if (typeof props.public_url === 'string' && props.public_url) return props.public_url;
  if (gatewayUrl && typeof props.resource === 'string') return `${gatewayUrl}/${apiName}${props.resource}`;
  return undefined;
}
