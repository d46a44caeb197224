// Meta's JSON-Patch subset (add, remove, replace) for PATCH on a resource.
// The real library is not public; the reference fixes the path whitelist and the two 500 errors. Unknown points
// are decided leniently here: `replace` of a missing member behaves like `add`, and `add`/`replace` create missing
// intermediate objects under /properties.
import { MetaError, isObject } from './meta-emulator-model.js';
import type { MetaResource } from './meta-emulator-model.js';

const TOP_LEVEL_PATHS = new Set(['/name', '/description', '/resource_state', '/tags', '/variables']);
const OPS = new Set(['add', 'remove', 'replace']);

interface PatchOp {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

function isAllowedPath(path: string): boolean {
  return TOP_LEVEL_PATHS.has(path) || (path.startsWith('/properties/') && path.length > '/properties/'.length);
}

function parseOps(body: unknown): PatchOp[] {
  if (!Array.isArray(body)) throw new MetaError(400, 'PATCH payload must be a JSON array of patch operations.');
  return body.map((raw: unknown) => {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new MetaError(400, `Invalid PATCH operation: ${JSON.stringify(raw)}`);
    }
    if (!OPS.has(raw.op)) throw new MetaError(400, `Unsupported PATCH op '${raw.op}'.`);
    if (raw.op !== 'remove' && !('value' in raw)) {
      throw new MetaError(400, `PATCH op '${raw.op}' on '${raw.path}' has no value.`);
    }
    return { op: raw.op as PatchOp['op'], path: raw.path, value: raw.value };
  });
}

/** RFC 6901 pointer → tokens (`~1` is `/`, `~0` is `~`). */
function tokens(path: string): string[] {
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Container {
  return typeof value === 'object' && value !== null;
}

/** Walks to the parent of the pointer's last token; `create` makes missing objects on the way. */
function parentOf(root: Record<string, unknown>, toks: string[], create: boolean, path: string): Container {
  let node: Container = root;
  for (const tok of toks.slice(0, -1)) {
    const next: unknown = Array.isArray(node) ? node[Number(tok)] : node[tok];
    if (isContainer(next)) {
      node = next;
    } else if (create && !Array.isArray(node)) {
      const fresh: Record<string, unknown> = {};
      node[tok] = fresh;
      node = fresh;
    } else {
      throw new MetaError(500, `${path} does not exist.`);
    }
  }
  return node;
}

function arrayIndex(arr: unknown[], tok: string, forInsert: boolean, path: string): number {
  if (forInsert && tok === '-') return arr.length;
  const idx = /^(0|[1-9][0-9]*)$/.test(tok) ? Number(tok) : NaN;
  const max = forInsert ? arr.length : arr.length - 1;
  if (Number.isNaN(idx) || idx > max) throw new MetaError(500, `${path} does not exist.`);
  return idx;
}

function applyOne(doc: Record<string, unknown>, op: PatchOp): void {
  const toks = tokens(op.path);
  const last = toks[toks.length - 1] ?? '';
  if (op.op === 'remove') {
    if (op.path === '/name' || op.path === '/resource_state') {
      throw new MetaError(400, `Cannot remove required field '${op.path}'.`);
    }
    const parent = parentOf(doc, toks, false, op.path);
    if (Array.isArray(parent)) {
      parent.splice(arrayIndex(parent, last, false, op.path), 1);
    } else {
      if (!Object.hasOwn(parent, last)) throw new MetaError(500, `${op.path} does not exist.`);
      delete parent[last];
    }
    return;
  }
  if (op.path === '/name' && (typeof op.value !== 'string' || op.value === '')) {
    throw new MetaError(400, "'name' must be a non-empty string.");
  }
  const parent = parentOf(doc, toks, true, op.path);
  if (Array.isArray(parent)) {
    const idx = arrayIndex(parent, last, op.op === 'add', op.path);
    if (op.op === 'add') parent.splice(idx, 0, op.value);
    else parent[idx] = op.value;
  } else {
    parent[last] = op.value;
  }
}

/**
 * Applies a PATCH body to a copy of `resource` and returns the copy; nothing is changed when any op fails
 * (Meta validates the whole document before it writes).
 */
export function applyPatch(resource: MetaResource, body: unknown): MetaResource {
  const ops = parseOps(body);
  if (ops.some((op) => !isAllowedPath(op.path))) throw new MetaError(500, 'Invalid PATCH-Op paths found');
  const copy = structuredClone(resource) as unknown as Record<string, unknown>;
  for (const op of ops) applyOne(copy, op);
  return copy as unknown as MetaResource;
}
