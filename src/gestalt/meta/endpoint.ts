import type { EndpointSettings } from '../../config/types.js';
import type { FieldChange } from '../types.js';
import type { MetaResource, PatchOp } from './client.js';
import { canonical, showValue } from './fields.js';

// API endpoint options (docs/gestalt-api.md): what a create carries, and the JSON-Patch that brings an existing
// endpoint up to date. Unset options mean Meta's defaults (synchronous, not HTTP-aware, no hosts, no rate limit,
// no Gestalt security), so an endpoint created before these options existed stays unchanged until one is set.

type Plugins = Record<string, unknown>;

/** The create payload's optional properties: only those the function sets. */
export function endpointOptions(s: EndpointSettings): Record<string, unknown> {
  const plugins: Plugins = {};
  if (s.rateLimitPerMinute !== undefined) plugins.rateLimit = { enabled: true, perMinute: s.rateLimitPerMinute };
  // users and groups are filled by Meta from the endpoint's invoke entitlement; clients send them empty.
  if (s.gestaltSecurity !== undefined) plugins.gestaltSecurity = { enabled: s.gestaltSecurity, users: [], groups: [] };
  return {
    ...(s.synchronous !== undefined ? { synchronous: s.synchronous } : {}),
    ...(s.isHttpAware !== undefined ? { is_http_aware: s.isHttpAware } : {}),
    ...(s.hosts !== undefined ? { hosts: s.hosts } : {}),
    ...(Object.keys(plugins).length > 0 ? { plugins } : {}),
  };
}

/**
 * Ops for PATCH /{fqon}/apiendpoints/{id}, and each change. Whole top-level properties are replaced: `plugins` is
 * sent merged with what Meta has (it keeps the users and groups Meta filled in, and plugins we don't manage),
 * because a nested path into a `plugins` an older endpoint never had would fail.
 */
export function endpointPatch(existing: MetaResource, methods: string[], s: EndpointSettings): { ops: PatchOp[]; changes: FieldChange[] } {
  const p = existing.properties ?? {};
  const ops: PatchOp[] = [];
  const changes: FieldChange[] = [];
  const set = (field: string, have: unknown, want: unknown) => {
    changes.push({ field: `endpoint.${field}`, ...showValue(field, have, want) });
    const path = field;
    if (want === undefined) ops.push({ op: 'remove', path: `/properties/${path}` });
    else ops.push({ op: path in p ? 'replace' : 'add', path: `/properties/${path}`, value: want });
  };

  const haveMethods = Array.isArray(p.methods) ? p.methods.map((m) => String(m).toUpperCase()) : [];
  if (canonical([...haveMethods].sort()) !== canonical([...methods].sort())) set('methods', p.methods, methods);

  const haveSync = bool(p.synchronous, true);
  const wantSync = s.synchronous ?? true;
  if (haveSync !== wantSync) set('synchronous', haveSync, wantSync);

  const haveAware = bool(p.is_http_aware, false);
  const wantAware = s.isHttpAware ?? false;
  if (haveAware !== wantAware) set('is_http_aware', haveAware, wantAware);

  const haveHosts = Array.isArray(p.hosts) ? p.hosts.map(String) : [];
  const wantHosts = s.hosts ?? [];
  // No hosts is the property removed: Meta then routes by the resource path alone.
  if (canonical(haveHosts) !== canonical(wantHosts)) set('hosts', p.hosts, wantHosts.length > 0 ? wantHosts : undefined);

  const plugins = isObject(p.plugins) ? p.plugins : {};
  const haveRate = rateLimit(plugins);
  const wantRate = s.rateLimitPerMinute;
  const haveSecurity = isObject(plugins.gestaltSecurity) && bool(plugins.gestaltSecurity.enabled, false);
  const wantSecurity = s.gestaltSecurity ?? false;
  if (haveRate !== wantRate || haveSecurity !== wantSecurity) {
    const merged: Plugins = { ...plugins };
    if (haveRate !== wantRate) {
      changes.push({ field: 'endpoint.rate_limit_per_minute', ...showValue('rate_limit_per_minute', haveRate, wantRate) });
      if (wantRate !== undefined) merged.rateLimit = { ...(isObject(plugins.rateLimit) ? plugins.rateLimit : {}), enabled: true, perMinute: wantRate };
      else merged.rateLimit = { ...(isObject(plugins.rateLimit) ? plugins.rateLimit : {}), enabled: false };
    }
    if (haveSecurity !== wantSecurity) {
      changes.push({ field: 'endpoint.gestalt_security', ...showValue('gestalt_security', haveSecurity, wantSecurity) });
      merged.gestaltSecurity = { users: [], groups: [], ...(isObject(plugins.gestaltSecurity) ? plugins.gestaltSecurity : {}), enabled: wantSecurity };
    }
    ops.push({ op: 'plugins' in p ? 'replace' : 'add', path: '/properties/plugins', value: merged });
  }
  return { ops, changes };
}

/** The enabled rate limit's requests per minute; undefined when there is none or it is off. */
function rateLimit(plugins: Plugins): number | undefined {
  const r = plugins.rateLimit;
  if (!isObject(r) || !bool(r.enabled, false)) return undefined;
  const n = Number(r.perMinute);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** Meta may answer booleans as text. */
function bool(value: unknown, unset: boolean): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return unset;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
