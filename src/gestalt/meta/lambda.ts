import type { PackagedFunction } from '../../artifacts/functions.js';
import type { EndpointSettings, JobContext, ScheduleSetting } from '../../config/types.js';
import type { FieldChange } from '../types.js';
import type { MetaResource, PatchOp } from './client.js';
import { endpointOptions } from './endpoint.js';
import { canonical, showValue } from './fields.js';
import type { SecretMountPayload } from './secrets.js';

export const FAILED_STATE = 'Gestalt::Resource::State::Failed';

/** What the original integration sent, and what a lambda gets when the functions file sets no headers. */
export const DEFAULT_HEADERS: Readonly<Record<string, string>> = { Accept: 'text/plain' };

/**
 * The create payload, shaped as the original integration sent it, with our per-function settings. Optional
 * properties (secrets, pre_warm, isolate) are sent only when set, so a plain function's payload is unchanged.
 */
export function lambdaPayload(fn: PackagedFunction, packageUrl: string, providerId: string, job: Pick<JobContext, 'ref' | 'sha'>, secrets: SecretMountPayload[] = []): { name: string; description: string; properties: Record<string, unknown> } {
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
      headers: fn.headers ?? { ...DEFAULT_HEADERS },
      periodic_info: periodicInfo(fn.schedule),
      handler: fn.handler,
      runtime: fn.runtime,
      env: fn.env,
      ...(secrets.length > 0 ? { secrets } : {}),
      ...(fn.preWarm !== undefined ? { pre_warm: fn.preWarm } : {}),
      ...(fn.isolate !== undefined ? { isolate: fn.isolate } : {}),
    },
  };
}

/** Gestalt's periodic_info: `{}` for no schedule, else schedule, timezone and the event the lambda receives. */
export function periodicInfo(schedule: ScheduleSetting | undefined): Record<string, unknown> {
  if (!schedule) return {};
  return { schedule: schedule.interval, timezone: schedule.timezone, payload: { eventName: schedule.event, data: schedule.data } };
}

export function describe(job: Pick<JobContext, 'ref' | 'sha'>): string {
  return `deploy by gitlab, ref ${job.ref}, sha ${job.sha.slice(0, 8)}`;
}

// The properties deploy owns. Others (provider, code, …) are left as they are on update.
const MANAGED = ['package_url', 'handler', 'runtime', 'memory', 'cpus', 'timeout', 'public', 'compressed', 'env', 'headers', 'periodic_info', 'secrets', 'pre_warm', 'isolate'] as const;

// What Meta treats as "not set" for each optional property: absent and this value mean the same lambda.
const UNSET_EQUIVALENT: Partial<Record<(typeof MANAGED)[number], unknown>> = { env: {}, periodic_info: {}, secrets: [], pre_warm: 0, isolate: false };

/**
 * JSON-Patch ops that bring an existing lambda to the desired properties, the names of the fields that differ,
 * and each difference with its current and new value. A presigned package URL is compared without its query
 * (the signature changes on every run; the object does not). The description only travels along with a real
 * change, so an unchanged redeploy makes no write at all.
 */
export function lambdaPatch(existing: MetaResource, desired: { description: string; properties: Record<string, unknown> }): { ops: PatchOp[]; changed: string[]; changes: FieldChange[] } {
  const current = existing.properties ?? {};
  const ops: PatchOp[] = [];
  const changed: string[] = [];
  const changes: FieldChange[] = [];
  for (const field of MANAGED) {
    const want = desired.properties[field];
    const have = current[field];
    if (same(field, have, want)) continue;
    changed.push(field);
    changes.push({ field, ...showValue(field, have, want) });
    // An optional property the function no longer sets is removed, not left behind (a dropped schedule stops).
    if (want === undefined) ops.push({ op: 'remove', path: `/properties/${field}` });
    else ops.push({ op: field in current ? 'replace' : 'add', path: `/properties/${field}`, value: want });
  }
  if (ops.length > 0 && existing.description !== desired.description) {
    ops.unshift({ op: existing.description === undefined ? 'add' : 'replace', path: '/description', value: desired.description });
  }
  return { ops, changed, changes };
}

function same(field: (typeof MANAGED)[number], have: unknown, want: unknown): boolean {
  if (field === 'package_url' && typeof have === 'string' && typeof want === 'string') return stripQuery(have) === stripQuery(want);
  const unset = UNSET_EQUIVALENT[field];
  const h = have ?? unset;
  const w = want ?? unset;
  // Meta keeps properties as text and may answer numbers and booleans as strings.
  if (typeof w === 'number' && typeof h === 'string') return Number(h) === w;
  if (typeof w === 'boolean' && typeof h === 'string') return String(w) === h;
  if (field === 'secrets' && Array.isArray(h) && Array.isArray(w)) return sortedCanonical(h) === sortedCanonical(w);
  return canonical(h) === canonical(w);
}

/** Mount order does not matter to Meta. */
function sortedCanonical(list: unknown[]): string {
  return list.map(canonical).sort().join(',');
}

function stripQuery(url: string): string {
  return url.split('?')[0] ?? url;
}

/** Endpoint create payload: the resource path is the function name, as the original did; options only when set. */
export function endpointPayload(name: string, lambdaId: string, methods: string[], settings: EndpointSettings = {}): object {
  return { name, properties: { implementation_type: 'lambda', implementation_id: lambdaId, resource: `/${name}`, methods, ...endpointOptions(settings) } };
}

/** public_url when Meta computes it (≥ 1.6), else the gateway URL + API name + resource (1.5). */
export function endpointUrl(endpoint: MetaResource | undefined, apiName: string, gatewayUrl: string | undefined): string | undefined {
  const props = endpoint?.properties ?? {};
  if (typeof props.public_url === 'string' && props.public_url) return props.public_url;
  if (gatewayUrl && typeof props.resource === 'string') return `${gatewayUrl}/${apiName}${props.resource}`;
  return undefined;
}
