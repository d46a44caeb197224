// Shapes and small helpers shared by the Meta emulator's state, routes and server.
// Everything here follows gestalt-meta as docs/gestalt-api.md describes it; where the sources are silent the choice is noted.

/** A Meta error: rendered as `{"code": code, "message": message}` with HTTP status `status`. */
export class MetaError extends Error {
  readonly status: number;
  readonly code: number;
  constructor(status: number, message: string, code: number = status) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export interface Link {
  typeId: string;
  id: string;
  name: string;
  href: string;
}

/** The resource envelope every Meta type shares. */
export interface MetaResource {
  id: string;
  name: string;
  description?: string;
  resource_type: string;
  resource_state: string;
  org: { typeId: string; id: string; href: string; properties: { fqon: string } };
  owner: { typeId: string; id: string; name: string; href: string };
  created: { timestamp: string };
  modified: { timestamp: string };
  properties: Record<string, unknown>;
  tags?: unknown;
  variables?: unknown;
}

export type Kind = 'environment' | 'api' | 'lambda' | 'apiendpoint' | 'provider' | 'secret';

export interface TypeInfo {
  name: string;
  typeId: string;
  segment: string;
  /** Used in messages such as `Environment with ID '…' not found.` */
  label: string;
}

// Type UUIDs of Org, User, Environment and Lambda are Meta's own (its conf/routes); the public sources don't show
// the others, so those are arbitrary fixed v4 UUIDs. Clients only ever read the type NAME.
export const ORG_TYPE: TypeInfo = {
  name: 'Gestalt::Resource::Organization',
  typeId: '23ba3299-b04e-4c5c-9b3d-64939b22944e',
  segment: 'orgs',
  label: 'Org',
};
export const USER_TYPE_ID = '58b6775d-37a5-44bc-9115-7331fc4964b7';

export const TYPES: Record<Kind, TypeInfo> = {
  environment: {
    name: 'Gestalt::Resource::Environment',
    typeId: '46b28076-9d94-4860-9aca-e8483a56d32c',
    segment: 'environments',
    label: 'Environment',
  },
  lambda: {
    name: 'Gestalt::Resource::Node::Lambda',
    typeId: 'e3a463fc-e51f-4166-8cec-3d9a54f7babd',
    segment: 'lambdas',
    label: 'Lambda',
  },
  api: { name: 'Gestalt::Resource::Api', typeId: '3cb7c866-7551-4479-9440-32382a64d5ef', segment: 'apis', label: 'Api' },
  apiendpoint: {
    name: 'Gestalt::Resource::ApiEndpoint',
    typeId: '7faa8264-5bca-4f7e-b9ae-2604371bb27a',
    segment: 'apiendpoints',
    label: 'ApiEndpoint',
  },
  secret: { name: 'Gestalt::Resource::Secret', typeId: '97d7a0c6-3b1e-4c2f-9a0d-7c1b5e8f2a64', segment: 'secrets', label: 'Secret' },
  // Providers are stored with their concrete subtype (see PROVIDER_TYPES); this is the generic entry for routing.
  provider: {
    name: 'Gestalt::Configuration::Provider',
    typeId: '3b160f75-c607-483c-b38f-3655c4e4b259',
    segment: 'providers',
    label: 'Provider',
  },
};

export const PROVIDER_TYPES = {
  lambda: { name: 'Gestalt::Configuration::Provider::Lambda', typeId: 'f5460454-b66f-460e-ad31-ddb0a0d122b6' },
  gatewayManager: {
    name: 'Gestalt::Configuration::Provider::GatewayManager',
    typeId: 'e1e4b1c8-2d90-482b-8a17-b1e9e53d3c5d',
  },
  kong: { name: 'Gestalt::Configuration::Provider::Kong', typeId: '05dede27-03b8-419d-9544-238fd6b07abc' },
  // The CaaS provider a lambda provider runs secret-mounting lambdas on (its META_COMPUTE_PROVIDER_ID).
  kubernetes: { name: 'Gestalt::Configuration::Provider::CaaS::Kubernetes', typeId: '2f9b2c1e-6d4a-4e8b-9f3c-1a7d5e0b8c42' },
} as const;

export const STATE_ACTIVE = 'Gestalt::Resource::State::Active';
export const STATE_FAILED = 'Gestalt::Resource::State::Failed';

export const FQON_RE = /^[-a-zA-Z0-9]+(\.[-a-zA-Z0-9]+)*$/;

// Meta parses ids with java.util.UUID, which does not check the version nibble; neither do we, so tests may seed
// readable ids like 00000000-0000-0000-0000-000000000001.
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

export function invalidUuid(value: string): MetaError {
  return new MetaError(400, `'${value}' is not a valid v4 UUID.`);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Timestamps are ISO-8601 (the format is undocumented). The clock never repeats a value so that a PATCH right
 * after a create always shows a later `modified` — tests can then assert the bump without sleeping.
 */
export class Clock {
  private last = 0;
  now(): string {
    const ms = Math.max(Date.now(), this.last + 1);
    this.last = ms;
    return new Date(ms).toISOString();
  }
}
