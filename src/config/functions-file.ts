import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import type { Problem } from '../errors.js';
import { HTTP_METHODS, isHttpMethod } from './checks.js';
import type { FunctionSettings, FunctionSource } from './types.js';

// gestalt-deploy.yml: functions one by one. Every problem names file:line, so a typo is found
// without reading the runner's source.

const SETTING_KEYS = ['runtime', 'handler', 'memory', 'cpus', 'timeout', 'public', 'methods', 'env'] as const;
const FUNCTION_KEYS = ['artifact', 'name', 'primary', ...SETTING_KEYS] as const;

type Overrides = FunctionSource['overrides'];

export async function readFunctionsFile(path: string, env: Record<string, string | undefined>): Promise<{ sources: FunctionSource[]; problems: Problem[] }> {
  const text = await readFile(path, 'utf8');
  return parseFunctionsFile(text, basename(path), env);
}

export function parseFunctionsFile(text: string, fileName: string, env: Record<string, string | undefined>): { sources: FunctionSource[]; problems: Problem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const problems: Problem[] = [];
  const at = (node: Node | null | undefined) => `${fileName}:${node?.range ? lines.linePos(node.range[0]).line : 1}`;
  const add = (node: Node | null | undefined, message: string) => problems.push({ variable: at(node), message });

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
  const defaults = isMap(defaultsNode) ? readSettings(defaultsNode, [...SETTING_KEYS], add, env) : {};
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
    const overrides = readSettings(item, [...FUNCTION_KEYS], add, env);
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
    // env merges with the defaults' env (a function adds variables); every other setting replaces.
    const mergedEnv = defaults.env || overrides.env ? { env: { ...defaults.env, ...overrides.env } } : {};
    sources.push({ source: at(item), patterns, overrides: { ...defaults, ...overrides, ...mergedEnv, ...(name ? { name } : {}), ...(primary ? { primary } : {}) } });
  }
  return { sources, problems };
}

function readSettings(map: YAMLMap, allowed: string[], add: (node: Node | null | undefined, message: string) => void, env: Record<string, string | undefined>): Overrides {
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
        const items = isSeq(node) ? node.items.map((n) => (isScalar(n) ? String(n.value).toUpperCase() : '')) : undefined;
        if (!items || items.length === 0 || items.some((m) => !isHttpMethod(m))) add(node, `methods: must be a list of HTTP methods from ${HTTP_METHODS.join(', ')}.`);
        else out.methods = items;
        break;
      }
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
