// Reading GitLab CI YAML as data: the template (spec header + jobs, two documents) and the examples, with the
// `!reference` tag understood, and GitLab's `extends` merge for checks on what a job ends up with.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { CollectionTag, YAMLSeq } from 'yaml';
import { REPO_ROOT } from '../support/template-server.js';

// CI configuration is free-form YAML; tests walk it as plain data.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const TEMPLATE_PATH = join(REPO_ROOT, 'templates/deploy.gitlab-ci.yml');
export const EXAMPLES_DIR = join(REPO_ROOT, 'examples');

/** `!reference [.job, key, ...]`: kept as data, resolved by resolveReferences(). */
export class Reference {
  constructor(readonly path: string[]) {}
}

const referenceTag: CollectionTag = {
  tag: '!reference',
  collection: 'seq',
  identify: (value: unknown) => value instanceof Reference,
  resolve(seq, onError) {
    const path = (seq as YAMLSeq).items.map((item) => (item && typeof item === 'object' && 'value' in item ? (item as { value: unknown }).value : item));
    if (path.length < 2 || !path.every((p): p is string => typeof p === 'string')) {
      onError('!reference takes a list of at least two names: [.job, key, ...]');
      return new Reference([]);
    }
    return new Reference(path);
  },
};

/** All YAML documents of a CI file, as data; throws on any YAML error or warning. */
export function parseCiYaml(text: string, name = 'yaml'): Json[] {
  const docs = parseAllDocuments(text, { customTags: [referenceTag], prettyErrors: true });
  if (!Array.isArray(docs)) throw new Error(`${name}: not a YAML stream`);
  const problems = docs.flatMap((d) => [...d.errors, ...d.warnings]);
  if (problems.length > 0) throw new Error(`${name}: ${problems.map((p) => p.message).join('\n')}`);
  return docs.map((d) => d.toJS({ maxAliasCount: 100 }));
}

export async function readTemplate(): Promise<{ text: string; spec: Json; jobs: Json }> {
  const text = await readFile(TEMPLATE_PATH, 'utf8');
  const docs = parseCiYaml(text, 'templates/deploy.gitlab-ci.yml');
  if (docs.length !== 2) throw new Error(`the template has ${docs.length} YAML documents; expected 2 (spec header, then jobs)`);
  return { text, spec: docs[0], jobs: docs[1] };
}

export async function exampleNames(): Promise<string[]> {
  const entries = await readdir(EXAMPLES_DIR, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

export async function readExample(name: string): Promise<{ text: string; config: Json }> {
  const text = await readFile(join(EXAMPLES_DIR, name, '.gitlab-ci.yml'), 'utf8');
  const docs = parseCiYaml(text, `examples/${name}/.gitlab-ci.yml`);
  if (docs.length !== 1) throw new Error(`examples/${name}/.gitlab-ci.yml has ${docs.length} YAML documents; expected 1`);
  return { text, config: docs[0] };
}

/** `$[[ inputs.x ]]` replaced by the given values (or the spec defaults), as GitLab does on the parsed tree. */
export function interpolate(node: Json, values: Record<string, unknown>): Json {
  if (typeof node === 'string') {
    const whole = /^\$\[\[\s*inputs\.([\w-]+)\s*\]\]$/.exec(node);
    if (whole) return values[whole[1] as string];
    return node.replace(/\$\[\[\s*inputs\.([\w-]+)\s*\]\]/g, (_, k: string) => String(values[k]));
  }
  if (node instanceof Reference) return node;
  if (Array.isArray(node)) return node.map((n) => interpolate(n, values));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolate(v, values)]));
  return node;
}

function isHash(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Reference);
}

/** GitLab's `extends` merge: hashes merge deeply, everything else (arrays included) is replaced by the child. */
export function deepMerge(base: Json, child: Json): Json {
  if (!isHash(base) || !isHash(child)) return child;
  const out: Record<string, Json> = { ...base };
  for (const [k, v] of Object.entries(child)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

/** A job as GitLab sees it after `extends` (in order, recursively) and `!reference`, over all given configs. */
export function resolveJob(configs: Json[], name: string, seen: string[] = []): Json {
  if (seen.includes(name)) throw new Error(`extends loop: ${[...seen, name].join(' -> ')}`);
  const job = configs.map((c) => c?.[name]).filter(isHash).reduce((a: Json, b: Json) => deepMerge(a, b), undefined);
  if (!job) throw new Error(`no job ${name}`);
  const parents: string[] = job.extends === undefined ? [] : Array.isArray(job.extends) ? job.extends : [job.extends];
  let merged: Json = {};
  for (const parent of parents) merged = deepMerge(merged, resolveJob(configs, parent, [...seen, name]));
  const { extends: _ignored, ...own } = job;
  return resolveReferences(configs, deepMerge(merged, own));
}

/** Replaces every `!reference` with what it points at; in a list, a referenced list is spliced in (GitLab flattens). */
export function resolveReferences(configs: Json[], node: Json, depth = 0): Json {
  if (depth > 10) throw new Error('!reference nested more than 10 levels');
  if (node instanceof Reference) {
    const [job, ...keys] = node.path;
    let target: Json = resolveJob(configs, job as string);
    for (const k of keys) target = target?.[k];
    if (target === undefined) throw new Error(`!reference [${node.path.join(', ')}] points at nothing`);
    return resolveReferences(configs, target, depth + 1);
  }
  if (Array.isArray(node)) {
    return node.flatMap((item) => {
      const resolved = resolveReferences(configs, item, depth);
      return item instanceof Reference && Array.isArray(resolved) ? resolved : [resolved];
    });
  }
  if (isHash(node)) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolveReferences(configs, v, depth)]));
  return node;
}

/** Every string in a tree with the key path leading to it. */
export function strings(node: Json, path: string[] = []): { path: string[]; value: string }[] {
  if (typeof node === 'string') return [{ path, value: node }];
  if (Array.isArray(node)) return node.flatMap((n, i) => strings(n, [...path, String(i)]));
  if (node instanceof Reference) return [];
  if (node && typeof node === 'object') return Object.entries(node).flatMap(([k, v]) => strings(v, [...path, k]));
  return [];
}
