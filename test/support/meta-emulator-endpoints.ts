// API endpoint rules of the Meta emulator, after gestalt-meta's GwmSpec (ApiEndpointProperties) and
// GatewayManagerProvider (upstream URL, public URL, gestaltSecurity users/groups on update). The fog CLI's
// endpoint schema fixes the plugin shapes: rateLimit {enabled, perMinute}, gestaltSecurity {enabled}.
import { MetaError, isObject } from './meta-emulator-model.js';

const isBool = (v: unknown) => typeof v === 'boolean';
const isStringList = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Play-JSON-style errors for the optional endpoint properties; empty when they parse. */
export function endpointParseErrors(p: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const optional = (path: string, value: unknown, valid: (v: unknown) => boolean, expected: string) => {
    if (value !== undefined && value !== null && !valid(value)) errors.push(`/properties/${path}: error.expected.${expected}`);
  };
  optional('resource', p.resource, (v) => typeof v === 'string', 'jsstring');
  optional('methods', p.methods, isStringList, 'jsarray');
  optional('hosts', p.hosts, isStringList, 'jsarray');
  optional('synchronous', p.synchronous, isBool, 'jsboolean');
  optional('is_http_aware', p.is_http_aware, isBool, 'jsboolean');
  optional('plugins', p.plugins, isObject, 'jsobject');
  const plugins = isObject(p.plugins) ? p.plugins : {};
  if (plugins.rateLimit !== undefined) {
    const r = plugins.rateLimit;
    if (!isObject(r)) errors.push('/properties/plugins/rateLimit: error.expected.jsobject');
    else {
      if (!isBool(r.enabled)) errors.push('/properties/plugins/rateLimit/enabled: error.expected.jsboolean');
      if (typeof r.perMinute !== 'number') errors.push('/properties/plugins/rateLimit/perMinute: error.expected.jsnumber');
    }
  }
  if (plugins.gestaltSecurity !== undefined) {
    const g = plugins.gestaltSecurity;
    if (!isObject(g)) errors.push('/properties/plugins/gestaltSecurity: error.expected.jsobject');
    else {
      if (!isBool(g.enabled)) errors.push('/properties/plugins/gestaltSecurity/enabled: error.expected.jsboolean');
      for (const list of ['users', 'groups'] as const) if (g[list] !== undefined && !Array.isArray(g[list])) errors.push(`/properties/plugins/gestaltSecurity/${list}: error.expected.jsarray`);
    }
  }
  return errors;
}

export function checkEndpointProperties(p: Record<string, unknown>): void {
  const errors = endpointParseErrors(p);
  if (errors.length > 0) throw new MetaError(400, `Failed to parse payload: ${errors.join(', ')}`);
  const hasHosts = Array.isArray(p.hosts) && p.hosts.length > 0;
  if (typeof p.resource !== 'string' && !hasHosts) throw new MetaError(400, "One of 'resource' or 'hosts' is required.");
}

/** Laser's invoke route: asynchronous `invoke`, synchronous `invokeSync`, synchronous and HTTP-aware `invokeSyncHA`. */
export function upstreamUrl(type: string, implementationId: string, synchronous: unknown, httpAware: unknown): string {
  if (type === 'container') return `http://${implementationId}.containers.gestalt.local:80`;
  const invoke = synchronous === false ? 'invoke' : httpAware === true ? 'invokeSyncHA' : 'invokeSync';
  return `http://laser.gestalt.local:9000/lambdas/${implementationId}/${invoke}`;
}

/** By host when the endpoint has hosts (`proto://host/api/resource`), else by path on the gateway's vhost. */
export function publicUrl(gatewayUrl: string, apiName: string, p: Record<string, unknown>): string | undefined {
  const base = new URL(gatewayUrl);
  const resource = typeof p.resource === 'string' ? (p.resource.startsWith('/') ? p.resource : `/${p.resource}`) : undefined;
  const host = Array.isArray(p.hosts) ? (p.hosts[0] as string | undefined) : undefined;
  if (host) return `${base.protocol}//${host}${resource ? `/${apiName}${resource}` : ''}`;
  if (resource) return `${gatewayUrl.replace(/\/+$/, '')}/${apiName}${resource}`;
  return undefined;
}

/** On update Meta rewrites gestaltSecurity's users and groups from the endpoint's invoke entitlement. */
export function fillSecurityIdentities(p: Record<string, unknown>, ownerId: string): void {
  const plugins = p.plugins;
  if (!isObject(plugins) || !isObject(plugins.gestaltSecurity) || plugins.gestaltSecurity.enabled !== true) return;
  plugins.gestaltSecurity = { ...plugins.gestaltSecurity, users: [ownerId], groups: [] };
}
