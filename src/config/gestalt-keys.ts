import { isMap, isScalar, isSeq, type Node, type YAMLMap } from 'yaml';
import type { EndpointSettings, ScheduleSetting, SecretMountSetting } from './types.js';
import { HTTP_METHODS, isHttpMethod, UUID_RE } from './checks.js';

// Readers for the gestalt-deploy.yml keys that become Gestalt lambda and endpoint properties (secrets, schedule,
// headers, pre_warm, isolate, endpoint). Each checks what Meta would reject later, so the mistake is a
// file:line problem before anything is written. The shapes they are turned into are in docs/gestalt-api.md.

export interface YamlContext {
  add: (node: Node | null | undefined, message: string) => void;
  at: (node: Node | null | undefined) => string;
}

// Meta's own patterns for Secret names and item keys (SecretSpec), and a DNS host name for endpoint hosts.
const SECRET_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY_RE = /^[-._a-zA-Z0-9]{1,253}$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HOST_RE = /^(?=.{1,253}$)([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$/;
// ISO-8601 repeating interval as Gestalt's examples write it: R[n]/<start>/<duration> (R-1 or R: forever). Their
// examples also write days after the T (PT1D), so that is accepted too.
const INTERVAL_RE = /^R(-1|\d+)?\/(\d{4}-\d{2}-\d{2}T\d{1,2}:\d{1,2}(:\d{1,2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)\/(P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+D)?(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?)$/;

const SECRET_KEYS = ['name', 'id', 'key', 'env', 'file', 'directory'];
const SCHEDULE_KEYS = ['interval', 'timezone', 'event', 'data'];
export const ENDPOINT_KEYS = ['methods', 'synchronous', 'is_http_aware', 'hosts', 'rate_limit_per_minute', 'gestalt_security'];
/** The on/off endpoint keys and the setting each one fills. */
const ENDPOINT_SWITCHES = { synchronous: 'synchronous', is_http_aware: 'isHttpAware', gestalt_security: 'gestaltSecurity' } as const;

function scalar(node: Node | null | undefined): unknown {
  return isScalar(node) ? node.value : undefined;
}

function nonEmptyString(node: Node | null | undefined): string | undefined {
  const v = scalar(node);
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

/** Pairs of a mapping with their key as text; unknown keys are reported once, here. */
function entries(map: YAMLMap, allowed: string[], what: string, c: YamlContext): [string, Node | null, Node][] {
  const out: [string, Node | null, Node][] = [];
  for (const pair of map.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    if (!allowed.includes(key)) c.add(keyNode, `unknown ${what} key '${key}'; use ${allowed.join(', ')}.`);
    else out.push([key, pair.value as Node | null, keyNode]);
  }
  return out;
}

export function readMethods(node: Node | null, label: string, c: YamlContext): string[] | undefined {
  const items = isSeq(node) ? node.items.map((n) => (isScalar(n) ? String(n.value).toUpperCase() : '')) : undefined;
  if (!items || items.length === 0 || items.some((m) => !isHttpMethod(m))) {
    c.add(node, `${label}: must be a list of HTTP methods from ${HTTP_METHODS.join(', ')}.`);
    return undefined;
  }
  return items;
}

export function readBool(node: Node | null, label: string, c: YamlContext): boolean | undefined {
  const v = scalar(node);
  if (typeof v === 'boolean') return v;
  c.add(node, `${label}: must be true or false.`);
  return undefined;
}

export function readPreWarm(node: Node | null, c: YamlContext): number | undefined {
  const v = scalar(node);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 100) return v;
  c.add(node, 'pre_warm: must be a whole number of executors kept warm, from 0 to 100.');
  return undefined;
}

export function readHeaders(node: Node | null, c: YamlContext): Record<string, string> | undefined {
  if (!isMap(node)) {
    c.add(node, 'headers: must be a mapping of Header-Name: value strings.');
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const pair of node.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : '';
    const v = pair.value as Node | null;
    if (!HEADER_NAME_RE.test(name)) c.add(pair.key as Node, `headers: '${name}' is not a valid HTTP header name.`);
    else if (!isScalar(v) || v.value === null || typeof v.value === 'object') c.add(v ?? (pair.key as Node), `headers: ${name} must be a string value.`);
    else out[name] = String(v.value);
  }
  return out;
}

export function readSchedule(node: Node | null, c: YamlContext): ScheduleSetting | undefined {
  if (!isMap(node)) {
    c.add(node, 'schedule: must be a mapping with interval: (ISO-8601, e.g. R/2024-01-01T02:00:00Z/PT1H) and timezone: (e.g. UTC).');
    return undefined;
  }
  let ok = true;
  const bad = (n: Node | null | undefined, message: string): false => {
    c.add(n, message);
    return false;
  };
  const out: Partial<ScheduleSetting> = {};
  for (const [key, value] of entries(node, SCHEDULE_KEYS, 'schedule', c)) {
    if (key === 'data') {
      out.data = value === null ? null : value.toJSON();
      continue;
    }
    const text = nonEmptyString(value);
    if (key === 'interval') {
      if (text && INTERVAL_RE.test(text) && !Number.isNaN(Date.parse(startOf(text)))) out.interval = text;
      else ok = bad(value, `schedule: interval '${String(scalar(value) ?? '')}' is not an ISO-8601 repeating interval; write R/<start>/<period>, e.g. R/2024-01-01T02:00:00Z/PT1H (hourly) or R/2024-01-01T00:00:00Z/P1D (daily).`);
    } else if (key === 'timezone') {
      if (text && validTimeZone(text)) out.timezone = text;
      else ok = bad(value, `schedule: timezone '${String(scalar(value) ?? '')}' is not a time zone; use an IANA name such as UTC or Europe/Berlin.`);
    } else if (key === 'event') {
      if (text) out.event = text;
      else ok = bad(value, 'schedule: event must be a non-empty string (the eventName the lambda receives).');
    }
  }
  for (const required of ['interval', 'timezone'] as const) {
    if (!node.has(required)) {
      ok = false;
      c.add(node, `schedule: ${required}: is missing; a schedule needs interval: (e.g. R/2024-01-01T02:00:00Z/PT1H) and timezone: (e.g. UTC).`);
    }
  }
  if (!ok) return undefined;
  return { interval: out.interval as string, timezone: out.timezone as string, event: out.event ?? 'schedule', data: out.data ?? {} };
}

function startOf(interval: string): string {
  // Gestalt's own example writes single-digit minutes (02:0:00); normalise before Date.parse checks the date.
  const start = interval.split('/')[1] ?? '';
  return start.replace(/T(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?/, (_m, h: string, mi: string, s?: string) => `T${h.padStart(2, '0')}:${mi.padStart(2, '0')}:${(s ?? '0').padStart(2, '0')}`);
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function readSecrets(node: Node | null, c: YamlContext, envNames: Set<string>): SecretMountSetting[] | undefined {
  if (!isSeq(node)) {
    c.add(node, 'secrets: must be a list; each entry names a secret (name: or id:) and one of env:, file: or directory:.');
    return undefined;
  }
  const out: SecretMountSetting[] = [];
  const paths = new Map<string, string>();
  let ok = true;
  for (const item of node.items as Node[]) {
    const mount = readSecret(item, c);
    if (!mount) {
      ok = false;
      continue;
    }
    const where = `${mount.mount === 'env' ? 'variable' : 'path'} ${mount.path}`;
    const clash = paths.get(`${mount.mount === 'env' ? 'env' : 'fs'}:${mount.path}`);
    if (clash) {
      ok = false;
      c.add(item, `secrets: ${where} is already mounted by the entry at ${clash}; mount each ${mount.mount === 'env' ? 'variable' : 'path'} once.`);
      continue;
    }
    if (mount.mount === 'env' && envNames.has(mount.path)) {
      ok = false;
      c.add(item, `secrets: ${mount.path} is also set under env:; keep one of them.`);
      continue;
    }
    paths.set(`${mount.mount === 'env' ? 'env' : 'fs'}:${mount.path}`, mount.source);
    out.push(mount);
  }
  return ok ? out : undefined;
}

function readSecret(item: Node, c: YamlContext): SecretMountSetting | undefined {
  if (!isMap(item)) {
    c.add(item, 'secrets: each entry must be a mapping, e.g. {name: db-credentials, key: password, env: DB_PASSWORD}.');
    return undefined;
  }
  const got = new Map(entries(item, SECRET_KEYS, 'secret', c).map(([k, v]) => [k, v]));
  let ok = got.size === item.items.length;
  const text = (key: string) => nonEmptyString(got.get(key));
  const name = text('name');
  const id = text('id');
  if (got.has('name') === got.has('id')) {
    ok = false;
    c.add(item, 'secrets: name the secret with exactly one of name: (its name in the environment) or id: (its UUID).');
  } else if (got.has('name') && !(name && SECRET_NAME_RE.test(name))) {
    ok = false;
    c.add(got.get('name'), `secrets: name '${String(scalar(got.get('name')) ?? '')}' is not a Gestalt secret name (lowercase letters, digits, '-' and '.').`);
  } else if (got.has('id') && !(id && UUID_RE.test(id))) {
    ok = false;
    c.add(got.get('id'), `secrets: id '${String(scalar(got.get('id')) ?? '')}' is not a UUID; copy the secret's id from Gestalt, or use name:.`);
  }
  const mounts = (['env', 'file', 'directory'] as const).filter((m) => got.has(m));
  if (mounts.length !== 1) {
    c.add(item, `secrets: mount the secret with exactly one of env: (a variable name), file: (a path) or directory: (a path)${mounts.length > 1 ? `, not ${mounts.join(' and ')}` : ''}.`);
    return undefined;
  }
  const mount = mounts[0] as SecretMountSetting['mount'];
  const path = text(mount);
  if (mount === 'env' ? !(path && ENV_NAME_RE.test(path)) : !(path && path.startsWith('/'))) {
    ok = false;
    c.add(got.get(mount), mount === 'env' ? `secrets: env '${String(scalar(got.get(mount)) ?? '')}' is not a valid variable name.` : `secrets: ${mount} must be an absolute path such as /etc/secrets/${mount === 'file' ? 'password' : 'db'}.`);
  }
  const key = text('key');
  if (mount === 'directory') {
    if (got.has('key')) {
      ok = false;
      c.add(got.get('key'), 'secrets: a directory mount takes every item of the secret; remove key: (or mount one item with file:).');
    }
  } else if (!got.has('key')) {
    ok = false;
    c.add(item, `secrets: an ${mount} mount needs key: (which item of the secret to mount).`);
  } else if (!(key && SECRET_KEY_RE.test(key))) {
    ok = false;
    c.add(got.get('key'), `secrets: key '${String(scalar(got.get('key')) ?? '')}' is not a secret item key (letters, digits, '-', '_' and '.').`);
  }
  if (!ok) return undefined;
  return { source: c.at(item), ...(name ? { name } : { id: (id as string).toLowerCase() }), mount, path: path as string, ...(key && mount !== 'directory' ? { key } : {}) };
}

/** endpoint: {...}; `methods` is returned apart because it stays the function's top-level setting. */
export function readEndpoint(node: Node | null, c: YamlContext): { endpoint?: EndpointSettings; methods?: string[] } | undefined {
  if (!isMap(node)) {
    c.add(node, `endpoint: must be a mapping of ${ENDPOINT_KEYS.join(', ')}.`);
    return undefined;
  }
  const endpoint: EndpointSettings = {};
  let methods: string[] | undefined;
  let ok = true;
  const bad = (n: Node | null | undefined, message: string): false => {
    c.add(n, message);
    return false;
  };
  const fail = <T>(value: T | undefined): T | undefined => {
    if (value === undefined) ok = false;
    return value;
  };
  for (const [key, value] of entries(node, ENDPOINT_KEYS, 'endpoint', c)) {
    switch (key) {
      case 'methods':
        methods = fail(readMethods(value, 'endpoint: methods', c));
        break;
      case 'synchronous':
      case 'is_http_aware':
      case 'gestalt_security': {
        const v = fail(readBool(value, `endpoint: ${key}`, c));
        if (v !== undefined) endpoint[ENDPOINT_SWITCHES[key]] = v;
        break;
      }
      case 'rate_limit_per_minute': {
        const v = scalar(value);
        if (typeof v === 'number' && Number.isInteger(v) && v > 0) endpoint.rateLimitPerMinute = v;
        else ok = bad(value, 'endpoint: rate_limit_per_minute must be a positive whole number of requests per minute (leave it out for no limit).');
        break;
      }
      case 'hosts': {
        const hosts = isSeq(value) ? value.items.map((n) => nonEmptyString(n as Node) ?? '') : undefined;
        if (hosts && hosts.length > 0 && hosts.every((h) => HOST_RE.test(h))) endpoint.hosts = hosts.map((h) => h.toLowerCase());
        else ok = bad(value, 'endpoint: hosts must be a non-empty list of host names, e.g. [api.example.com].');
        break;
      }
    }
  }
  if (endpoint.isHttpAware === true && endpoint.synchronous === false) {
    // Meta builds the upstream URL from both: an asynchronous endpoint never reaches the HTTP-aware invoke.
    ok = false;
    c.add(node, 'endpoint: is_http_aware: true needs a synchronous endpoint; remove synchronous: false or is_http_aware.');
  }
  if (!ok) return undefined;
  return { endpoint, ...(methods ? { methods } : {}) };
}
