// In-memory resource store of the Meta emulator: one org, and every other resource keyed by id.
import { randomUUID } from 'node:crypto';
import {
  Clock,
  MetaError,
  ORG_TYPE,
  PROVIDER_TYPES,
  STATE_ACTIVE,
  TYPES,
  USER_TYPE_ID,
  isObject,
} from './meta-emulator-model.js';
import type { Kind, Link, MetaResource } from './meta-emulator-model.js';

export interface Stored {
  kind: Kind;
  /** Id of the parent (env of a lambda or API, API of an endpoint); kept outside the document so PATCH can't move it. */
  parentId: string | undefined;
  doc: MetaResource;
}

export interface NewResource {
  id?: string | undefined;
  name: string;
  description?: string | undefined;
  /** Defaults to the kind's type; providers pass their concrete subtype. */
  type?: { name: string; typeId: string };
  state?: string;
  properties: Record<string, unknown>;
  /** Top-level string map Meta keeps with any resource and returns as given. */
  variables?: Record<string, string> | undefined;
}

/** Query parameters that are options, not filters. */
const NON_FILTER_PARAMS = new Set(['expand', 'embed', 'compact']);

export class MetaState {
  readonly fqon: string;
  readonly orgId = randomUUID();
  readonly ownerId = randomUUID();
  readonly clock = new Clock();
  private readonly items = new Map<string, Stored>();
  private readonly typeIds = new Map<string, string>();

  constructor(fqon: string) {
    this.fqon = fqon;
  }

  org(): Record<string, unknown> {
    const stamp = this.clock.now();
    const name = this.fqon.split('.').pop() ?? this.fqon;
    return {
      id: this.orgId,
      name,
      resource_type: ORG_TYPE.name,
      resource_state: STATE_ACTIVE,
      org: this.orgLink(),
      owner: this.ownerLink(),
      created: { timestamp: stamp },
      modified: { timestamp: stamp },
      properties: { fqon: this.fqon },
    };
  }

  private orgLink(): MetaResource['org'] {
    return { typeId: ORG_TYPE.typeId, id: this.orgId, href: `/${this.fqon}`, properties: { fqon: this.fqon } };
  }

  private ownerLink(): MetaResource['owner'] {
    return { typeId: USER_TYPE_ID, id: this.ownerId, name: 'admin', href: `/${this.fqon}/users/${this.ownerId}` };
  }

  /** Stores a new resource with a server-filled envelope; a client-supplied id is honoured. */
  create(kind: Kind, parentId: string | undefined, input: NewResource): Stored {
    const id = input.id ?? randomUUID();
    if (this.items.has(id)) throw new MetaError(409, `Resource with ID '${id}' already exists.`);
    const stamp = this.clock.now();
    const type = input.type ?? TYPES[kind];
    const doc: MetaResource = {
      id,
      name: input.name,
      ...(input.description !== undefined ? { description: input.description } : {}),
      resource_type: type.name,
      resource_state: input.state ?? STATE_ACTIVE,
      org: this.orgLink(),
      owner: this.ownerLink(),
      created: { timestamp: stamp },
      modified: { timestamp: stamp },
      properties: input.properties,
      ...(input.variables !== undefined ? { variables: structuredClone(input.variables) } : {}),
    };
    const stored: Stored = { kind, parentId, doc };
    this.items.set(id, stored);
    this.typeIds.set(id, type.typeId);
    return stored;
  }

  /** Resource of `kind` by id, or 404 `<Label> with ID '<id>' not found.` */
  get(kind: Kind, id: string): Stored {
    const found = this.find(kind, id);
    if (!found) throw new MetaError(404, `${TYPES[kind].label} with ID '${id}' not found.`);
    return found;
  }

  find(kind: Kind, id: string): Stored | undefined {
    const found = this.items.get(id);
    return found?.kind === kind ? found : undefined;
  }

  replace(id: string, doc: MetaResource): void {
    const found = this.items.get(id);
    if (found) found.doc = doc;
  }

  delete(id: string): void {
    this.items.delete(id);
    this.typeIds.delete(id);
  }

  all(kind: Kind): Stored[] {
    return [...this.items.values()].filter((s) => s.kind === kind);
  }

  link(stored: Stored): Link {
    const { doc } = stored;
    return {
      typeId: this.typeIds.get(doc.id) ?? TYPES[stored.kind].typeId,
      id: doc.id,
      name: doc.name,
      href: `/${this.fqon}/${TYPES[stored.kind].segment}/${doc.id}`,
    };
  }

  /** A list GET's answer: filtered, then links or (with `expand=true`) full resources. */
  list(items: Stored[], query: Record<string, string[]>): unknown[] {
    const filters: [string, string][] = [];
    for (const [key, values] of Object.entries(query)) {
      if (NON_FILTER_PARAMS.has(key)) continue;
      if (values.length > 1) throw new MetaError(400, `Query parameter '${key}' included multiple search terms.`);
      filters.push([key, values[0] ?? '']);
    }
    const kept = items.filter((s) => filters.every(([key, value]) => matches(s, key, value)));
    const expand = query.expand?.includes('true') ?? false;
    return kept.map((s) => (expand ? structuredClone(s.doc) : this.link(s)));
  }

  /** The CaaS provider lambda providers and secrets point at by default, created on first use. */
  caasProvider(): string {
    const found = this.all('provider').find((p) => p.doc.resource_type === PROVIDER_TYPES.kubernetes.name);
    return found?.doc.id ?? this.create('provider', undefined, { name: 'kubernetes', type: PROVIDER_TYPES.kubernetes, properties: { config: {} } }).doc.id;
  }

  /** The gateway providers every API points at, created on first use so `/providers` lists a realistic mix. */
  gatewayProviders(): { managerId: string; kongId: string } {
    const manager = this.all('provider').find((p) => p.doc.resource_type === PROVIDER_TYPES.gatewayManager.name);
    const kong = this.all('provider').find((p) => p.doc.resource_type === PROVIDER_TYPES.kong.name);
    const kongId =
      kong?.doc.id ??
      this.create('provider', undefined, { name: 'kong', type: PROVIDER_TYPES.kong, properties: {} }).doc.id;
    const managerId =
      manager?.doc.id ??
      this.create('provider', undefined, {
        name: 'gateway-manager',
        type: PROVIDER_TYPES.gatewayManager,
        properties: { linked_providers: [{ name: 'KONG_0', id: kongId }] },
      }).doc.id;
    return { managerId, kongId };
  }
}

/**
 * Exact-match filter on `name` or `properties.<key>`, compared as strings. Providers' properties have no `type`,
 * so there `type` matches the resource_type's last segment (`Lambda`) or the full type name.
 */
function matches(stored: Stored, key: string, value: string): boolean {
  const { doc } = stored;
  if (key === 'name') return doc.name === value;
  if (stored.kind === 'provider' && key === 'type' && !('type' in doc.properties)) {
    return doc.resource_type === value || doc.resource_type.split('::').pop() === value;
  }
  const prop = doc.properties[key];
  if (prop === undefined || prop === null || isObject(prop) || Array.isArray(prop)) return false;
  return String(prop) === value;
}
