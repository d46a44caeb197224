import { isObject } from '../record/schema.js';
import type { EndpointSettings, GestaltSettings, SecretMountSetting } from '../config/types.js';

// A history entry keeps a function's Gestalt settings (secret mounts, schedule, headers, pre-warm, isolation,
// endpoint options) so a rollback or promote restores them too instead of removing them. Read back from S3 they
// are untrusted: each field is checked for the shape the functions file produces, and a wrong one is refused.

/** The settings worth keeping: only those that were set. */
export function pickGestaltSettings(fn: GestaltSettings): GestaltSettings | undefined {
  const out: GestaltSettings = {};
  if (fn.secrets?.length) out.secrets = fn.secrets.map((s) => ({ ...s }));
  if (fn.schedule) out.schedule = { ...fn.schedule };
  if (fn.headers) out.headers = { ...fn.headers };
  if (fn.preWarm !== undefined) out.preWarm = fn.preWarm;
  if (fn.isolate !== undefined) out.isolate = fn.isolate;
  if (fn.endpoint) out.endpoint = { ...fn.endpoint, ...(fn.endpoint.hosts ? { hosts: [...fn.endpoint.hosts] } : {}) };
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The settings of a stored entry, or the name of the first field that is not what the functions file makes. */
export function parseGestaltSettings(raw: unknown): { settings?: GestaltSettings; bad?: string } {
  if (raw === undefined) return {};
  if (!isObject(raw)) return { bad: 'gestalt' };
  const out: GestaltSettings = {};
  if (raw.secrets !== undefined) {
    if (!Array.isArray(raw.secrets)) return { bad: 'gestalt.secrets' };
    const secrets: SecretMountSetting[] = [];
    for (const s of raw.secrets) {
      if (!isObject(s) || !['env', 'file', 'directory'].includes(String(s.mount)) || typeof s.path !== 'string' || typeof s.source !== 'string') return { bad: 'gestalt.secrets' };
      if ((s.name !== undefined && typeof s.name !== 'string') || (s.id !== undefined && typeof s.id !== 'string') || (s.key !== undefined && typeof s.key !== 'string')) return { bad: 'gestalt.secrets' };
      secrets.push({ source: s.source, mount: s.mount as SecretMountSetting['mount'], path: s.path, ...(s.name !== undefined ? { name: s.name as string } : {}), ...(s.id !== undefined ? { id: s.id as string } : {}), ...(s.key !== undefined ? { key: s.key as string } : {}) });
    }
    out.secrets = secrets;
  }
  if (raw.schedule !== undefined) {
    const s = raw.schedule;
    if (!isObject(s) || typeof s.interval !== 'string' || typeof s.timezone !== 'string' || typeof s.event !== 'string') return { bad: 'gestalt.schedule' };
    out.schedule = { interval: s.interval, timezone: s.timezone, event: s.event, data: s.data };
  }
  if (raw.headers !== undefined) {
    if (!isObject(raw.headers) || !Object.values(raw.headers).every((v) => typeof v === 'string')) return { bad: 'gestalt.headers' };
    out.headers = { ...(raw.headers as Record<string, string>) };
  }
  if (raw.preWarm !== undefined) {
    if (typeof raw.preWarm !== 'number' || !Number.isInteger(raw.preWarm) || raw.preWarm < 0) return { bad: 'gestalt.preWarm' };
    out.preWarm = raw.preWarm;
  }
  if (raw.isolate !== undefined) {
    if (typeof raw.isolate !== 'boolean') return { bad: 'gestalt.isolate' };
    out.isolate = raw.isolate;
  }
  if (raw.endpoint !== undefined) {
    const e = raw.endpoint;
    if (!isObject(e)) return { bad: 'gestalt.endpoint' };
    const endpoint: EndpointSettings = {};
    for (const k of ['synchronous', 'isHttpAware', 'gestaltSecurity'] as const) {
      if (e[k] === undefined) continue;
      if (typeof e[k] !== 'boolean') return { bad: `gestalt.endpoint.${k}` };
      endpoint[k] = e[k];
    }
    if (e.rateLimitPerMinute !== undefined) {
      if (typeof e.rateLimitPerMinute !== 'number' || !Number.isInteger(e.rateLimitPerMinute) || e.rateLimitPerMinute < 1) return { bad: 'gestalt.endpoint.rateLimitPerMinute' };
      endpoint.rateLimitPerMinute = e.rateLimitPerMinute;
    }
    if (e.hosts !== undefined) {
      if (!Array.isArray(e.hosts) || !e.hosts.every((h) => typeof h === 'string')) return { bad: 'gestalt.endpoint.hosts' };
      endpoint.hosts = [...(e.hosts as string[])];
    }
    out.endpoint = endpoint;
  }
  return { settings: out };
}
