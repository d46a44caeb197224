import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import type { Problem } from '../errors.js';
import { isHttpMethod } from './checks.js';
import { readBool, readEndpoint, readHeaders, readMethods, readPreWarm, readSchedule, readSecrets, type YamlContext } from './gestalt-keys.js';
import type { FunctionSettings, FunctionSource } from './types.js';

// gestalt-deploy.yml: functions one by one. Every problem names file:line, so a typo is found
// without reading the runner's source.

// Keys that become Gestalt lambda/endpoint properties only meta mode can set (the deployment lambda ignores them).
const META_ONLY_KEYS = ['secrets', 'schedule', 'headers', 'pre_warm', 'isolate', 'endpoint'] as const;
const SETTING_KEYS = ['runtime', 'handler', 'memory', 'cpus', 'timeout', 'public', 'methods', 'env', ...META_ONLY_KEYS] as const;
const FUNCTION_KEYS = ['artifact', 'name', 'primary', 'verify', ...SETTING_KEYS] as const;

type Overrides = FunctionSource['overrides'];

export interface ParseOptions {
  /** gateway: the meta-only keys are problems, since the deployment lambda would silently ignore them. */
  mode?: 'meta' | 'gateway';
}

export async function readFunctionsFile(path: string, env: Record<string, string | undefined>, options: ParseOptions = {}): Promise<{ sources: FunctionSource[]; problems: Problem[] }> {
  const text = await readFile(path, 'utf8');
  return parseFunctionsFile(text, basename(path), env, options);
}

export function parseFunctionsFile(text: string, fileName: string, env: Record<string, string | undefined>, options: ParseOptions = {}): { sources: FunctionSource[]; problems: Problem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const problems: Problem[] = [];
  const at = (node: Node | null | undefined) => `${fileName}:${node?.range ? lines.linePos(node.range[0]).line : 1}`;
  const add = (node: Node | null | undefined, message: string) => problems.push({ variable: at(node), message });
  const ctx: YamlContext = { add, at };

  for (const err of doc.errors) {
    problems.push({ variable: `${fileName}:${lines.linePos(err.pos[0]).line}`, message: `YAML syntax: ${err.message.split('\n')[0]}` });
  }
  if (problems.length > 0) return { sources: [], problems };

  const root = doc.contents;
  if (!isMap(root)) {
    add(root, 'expected a mapping with a `functions:` list.');
    return { sources: [], problems };
  }
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (key !== 'functions' && key !== 'defaults') add(pair.key as Node, `unknown key '${key}'; use functions: (and optionally defaults:).`);
  }
  const defaultsNode = root.get('defaults', true) as Node | undefined;
  const defaults = isMap(defaultsNode) ? readSettings(defaultsNode, [...SETTING_KEYS], ctx, env, options) : {};
  if (defaultsNode !== undefined && !isMap(defaultsNode)) add(defaultsNode, 'defaults: must be a mapping of function settings.');

  const list = root.get('functions', true) as Node | undefined;
  if (!isSeq(list) || list.items.length === 0) {
    add(list ?? root, 'functions: must be a non-empty list; each entry needs at least artifact:.');
    return { sources: [], problems };
  }
  const sources: FunctionSource[] = [];
  for (const item of list.items as Node[]) {
    if (!isMap(item)) {
      add(item, 'each function must be a mapping with artifact: and optional settings.');
      continue;
    }
    const overrides = readSettings(item, [...FUNCTION_KEYS], ctx, env, options);
    const artifactNode = item.get('artifact', true) as Node | undefined;
    const patterns = isScalar(artifactNode) && typeof artifactNode.value === 'string'
      ? [artifactNode.value]
      : isSeq(artifactNode) && artifactNode.items.every((n) => isScalar(n) && typeof n.value === 'string')
        ? artifactNode.items.map((n) => String((n as { value: string }).value))
        : undefined;
    if (!patterns || patterns.length === 0) {
      add(artifactNode ?? item, 'artifact: is required: a path or glob relative to the project dir (or a list of them).');
      continue;
    }
    const nameNode = item.get('name', true) as Node | undefined;
    if (nameNode !== undefined && !(isScalar(nameNode) && typeof nameNode.value === 'string' && nameNode.value.trim())) add(nameNode, 'name: must be a non-empty string.');
    const name = isScalar(nameNode) && typeof nameNode.value === 'string' ? nameNode.value.trim() : undefined;
    // primary: true picks the environment URL; one function only (checked once the artifacts are matched).
    const primaryNode = item.get('primary', true) as Node | undefined;
    if (primaryNode !== undefined && !(isScalar(primaryNode) && typeof primaryNode.value === 'boolean')) add(primaryNode, 'primary: must be true or false.');
    const primary = isScalar(primaryNode) && primaryNode.value === true;
    // env and endpoint merge with the defaults' (a function adds variables or options); every other setting replaces.
    const mergedEnv = defaults.env || overrides.env ? { env: { ...defaults.env, ...overrides.env } } : {};
    const mergedEndpoint = defaults.endpoint || overrides.endpoint ? { endpoint: { ...defaults.endpoint, ...overrides.endpoint } } : {};
    sources.push({ source: at(item), patterns, overrides: { ...defaults, ...overrides, ...mergedEnv, ...mergedEndpoint, ...(name ? { name } : {}), ...(primary ? { primary } : {}) } });
  }
  return { sources, problems };
}

function readSettings(map: YAMLMap, allowed: string[], ctx: YamlContext, env: Record<string, string | undefined>, options: ParseOptions): Overrides {
  const { add } = ctx;
  const out: Partial<FunctionSettings> = {};
  for (const pair of map.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const node = pair.value as Node | null;
    const value = isScalar(node) ? node.value : undefined;
    if (!allowed.includes(key)) {
      add(keyNode, `unknown setting '${key}'; use ${allowed.join(', ')}.`);
      continue;
    }
    if (options.mode === 'gateway' && (META_ONLY_KEYS as readonly string[]).includes(key)) {
      add(keyNode, `${key}: has no effect in gateway mode (the deployment lambda builds the lambda and endpoint itself); remove it or use meta mode (GESTALT_META_URL).`);
      continue;
    }
    switch (key) {
      case 'runtime':
      case 'handler':
        if (typeof value === 'string' && value.trim()) out[key] = value.trim();
        else add(node, `${key}: must be a non-empty string.`);
        break;
      case 'memory':
      case 'timeout':
        if (typeof value === 'number' && Number.isInteger(value) && value > 0) out[key] = value;
        else add(node, `${key}: must be a positive whole number${key === 'memory' ? ' of MB' : ' of seconds'}.`);
        break;
      case 'cpus':
        if (typeof value === 'number' && value > 0) out.cpus = value;
        else add(node, 'cpus: must be a positive number, e.g. 0.1.');
        break;
      case 'public':
        if (typeof value === 'boolean') out.public = value;
        else add(node, 'public: must be true or false.');
        break;
      case 'methods': {
        const endpointNode: unknown = map.get('endpoint', true);
        if (isMap(endpointNode) && endpointNode.has('methods')) {
          add(keyNode, 'methods: is also set under endpoint:; keep one of them.');
          break;
        }
        const items = readMethods(node, 'methods', ctx);
        if (items) out.methods = items;
        break;
      }
      case 'isolate': {
        const v = readBool(node, 'isolate', ctx);
        if (v !== undefined) out.isolate = v;
        break;
      }
      case 'pre_warm': {
        const v = readPreWarm(node, ctx);
        if (v !== undefined) out.preWarm = v;
        break;
      }
      case 'headers': {
        const v = readHeaders(node, ctx);
        if (v) out.headers = v;
        break;
      }
      case 'schedule': {
        const v = readSchedule(node, ctx);
        if (v) out.schedule = v;
        break;
      }
      case 'secrets': {
        const envNode = map.get('env', true);
        const envNames = new Set(isMap(envNode) ? envNode.items.map((p) => (isScalar(p.key) ? String(p.key.value) : '')) : []);
        const v = readSecrets(node, ctx, envNames);
        if (v) out.secrets = v;
        break;
      }
      case 'endpoint': {
        const v = readEndpoint(node, ctx);
        if (v?.endpoint) out.endpoint = v.endpoint;
        if (v?.methods) out.methods = v.methods;
        break;
      }
      case 'verify':
        out.verify = readVerify(node, add);
        break;
      case 'env': {
        if (!isMap(node)) {
          add(node, 'env: must be a mapping of NAME: value strings.');
          break;
        }
        const vars: Record<string, string> = {};
        for (const p of node.items) {
          const name = isScalar(p.key) ? String(p.key.value) : '';
          const v = p.value as Node | null;
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) add(p.key as Node, `env: '${name}' is not a valid variable name.`);
          else if (!isScalar(v) || v.value === null || typeof v.value === 'object') add(v ?? (p.key as Node), `env: ${name} must be a string value.`);
          else vars[name] = expand(String(v.value), env, (missing) => add(v, `env: ${name} references $${missing}, which is not set in the job; define it or remove the reference.`));
        }
        out.env = vars;
        break;
      }
    }
  }
  return out;
}

function readVerify(node: Node | null, add: (node: Node | null | undefined, message: string) => void): FunctionSettings['verify'] {
  if (!isMap(node)) {
    add(node, 'verify: must be a mapping with path, method, status and/or body.');
    return undefined;
  }
  const spec: NonNullable<FunctionSettings['verify']> = {};
  for (const p of node.items) {
    const key = isScalar(p.key) ? String(p.key.value) : '';
    const v = p.value as Node | null;
    const value = isScalar(v) ? v.value : undefined;
    if (key === 'path' && typeof value === 'string' && value.startsWith('/')) spec.path = value;
    else if (key === 'method' && typeof value === 'string' && isHttpMethod(value.toUpperCase())) spec.method = value.toUpperCase();
    else if (key === 'status' && typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599) spec.status = value;
    else if (key === 'body' && typeof value === 'string') spec.body = value;
    else add(p.key as Node, `verify: ${key} is not a path starting with /, an HTTP method, a status 100–599 or a body substring; use path, method, status, body.`);
  }
  return spec;
}

/** $VAR and ${VAR} from the job's variables, as GitLab writes them; $$ is a literal $. */
export function expand(value: string, env: Record<string, string | undefined>, onMissing: (name: string) => void): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const name = (braced ?? bare) as string;
    const v = env[name];
    if (v === undefined) {
      onMissing(name);
      return '';
    }
    return v;
  });
}
