// Route table and handlers of the Meta emulator. Handlers are synchronous and throw MetaError for error answers;
// routing, auth, body parsing and policy are done by the server before a handler runs.
import {
  MetaError,
  PROVIDER_TYPES,
  STATE_FAILED,
  TYPES,
  invalidUuid,
  isObject,
  isUuid,
} from './meta-emulator-model.js';
import type { Kind } from './meta-emulator-model.js';
import { applyPatch } from './meta-emulator-patch.js';
import type { MetaState, Stored } from './meta-emulator-state.js';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteCtx {
  state: MetaState;
  version: '1.5' | '2.4';
  gatewayUrl: string | undefined;
  params: Record<string, string>;
  query: Record<string, string[]>;
  body: unknown;
}

export interface Route {
  method: string;
  /** Segments after the FQON; `:name` segments are UUID parameters. */
  pattern: string[];
  /** Entitlement named in policy errors, e.g. `lambda.create`. */
  entitlement: string;
  handler: (ctx: RouteCtx) => Reply;
}

const ok = (body: unknown): Reply => ({ status: 200, body });

// ---- generic handlers ------------------------------------------------------------------------------------------

function listAll(kind: Kind) {
  return (c: RouteCtx): Reply => ok(c.state.list(c.state.all(kind), c.query));
}

/** Children lists don't check that the parent exists (a bogus env id lists as []), as Meta does. */
function listChildren(kind: Kind) {
  return (c: RouteCtx): Reply =>
    ok(c.state.list(c.state.all(kind).filter((s) => s.parentId === c.params.parent), c.query));
}

/** By id; under a parent path the resource must belong to that parent. */
function lookup(c: RouteCtx, kind: Kind): Stored {
  const id = c.params.id ?? '';
  const stored = c.state.get(kind, id);
  if (c.params.parent !== undefined && stored.parentId !== c.params.parent) {
    throw new MetaError(404, `${TYPES[kind].label} with ID '${id}' not found.`);
  }
  return stored;
}

function getOne(kind: Kind) {
  return (c: RouteCtx): Reply => ok(structuredClone(lookup(c, kind).doc));
}

/** `force` is accepted and ignored: lambdas and endpoints have no Meta children. Endpoints are NOT cascaded. */
function deleteOne(kind: Kind) {
  return (c: RouteCtx): Reply => {
    c.state.delete(lookup(c, kind).doc.id);
    return { status: 204 };
  };
}

function patchOne(kind: Kind) {
  return (c: RouteCtx): Reply => {
    const stored = lookup(c, kind);
    const patched = applyPatch(stored.doc, c.body);
    patched.modified = { timestamp: c.state.clock.now() };
    c.state.replace(stored.doc.id, patched);
    return ok(structuredClone(patched));
  };
}

// ---- create helpers --------------------------------------------------------------------------------------------

interface Envelope {
  id: string | undefined;
  name: string;
  description: string | undefined;
  properties: unknown;
  variables: Record<string, string> | undefined;
}

/** Checks the fields every create shares: a UUID `resource_type` if sent, a UUID `id` if sent, a `name`. */
function envelope(body: unknown): Envelope {
  if (!isObject(body)) throw new MetaError(400, 'Payload must be a JSON object.');
  if (body.resource_type !== undefined && !isUuid(body.resource_type)) {
    throw invalidUuid(String(body.resource_type));
  }
  if (body.id !== undefined && !isUuid(body.id)) throw invalidUuid(String(body.id));
  if (typeof body.name !== 'string' || body.name.trim() === '') {
    throw new MetaError(400, "Payload must contain a non-empty 'name'.");
  }
  return {
    id: body.id as string | undefined,
    name: body.name,
    description: typeof body.description === 'string' ? body.description : undefined,
    properties: body.properties,
    variables: variablesOf(body),
  };
}

/** Play-JSON-style errors for the lambda properties Meta requires; empty when the payload parses. */
function lambdaParseErrors(p: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const check = (path: string, value: unknown, valid: (v: unknown) => boolean, expected: string): void => {
    if (value === undefined || value === null) errors.push(`/properties/${path}: error.path.missing`);
    else if (!valid(value)) errors.push(`/properties/${path}: error.expected.${expected}`);
  };
  check('public', p.public, (v) => typeof v === 'boolean', 'jsboolean');
  check('runtime', p.runtime, (v) => typeof v === 'string', 'jsstring');
  check('code_type', p.code_type, (v) => v === 'package' || v === 'code', 'package|code');
  check('memory', p.memory, Number.isInteger, 'int');
  check('cpus', p.cpus, (v) => typeof v === 'number' && Number.isFinite(v), 'jsnumber');
  check('timeout', p.timeout, Number.isInteger, 'int');
  check('handler', p.handler, (v) => typeof v === 'string', 'jsstring');
  const provider = p.provider;
  if (!isObject(provider)) check('provider', provider, () => false, 'jsobject');
  else check('provider/id', provider.id, isUuid, 'uuid');
  return errors;
}

// ---- lambdas ---------------------------------------------------------------------------------------------------

function createLambda(c: RouteCtx): Reply {
  const envId = c.params.parent ?? '';
  const env = c.state.get('environment', envId);
  const input = envelope(c.body);
  if (!isObject(input.properties)) throw new MetaError(500, "Lambda payload has no 'properties'.");
  const properties = structuredClone(input.properties);
  const provider = properties.provider;
  const providerId = isObject(provider) && isUuid(provider.id) ? provider.id : undefined;
  if (providerId !== undefined) {
    const found = c.state.find('provider', providerId);
    if (found?.doc.resource_type !== PROVIDER_TYPES.lambda.name) {
      if (c.version === '1.5') throw new MetaError(422, `Invalid Lambda provider ID '${providerId}'.`);
      throw new MetaError(404, `Provider with ID '${providerId}' not found.`);
    }
    if (isObject(provider) && provider.name === undefined) provider.name = found.doc.name;
  }
  properties.parent = c.state.link(env);
  const errors = lambdaParseErrors(properties);
  // Newer Meta writes the resource before the backend step that parses it: a bad payload leaves a Failed lambda.
  const stored = c.state.create('lambda', envId, {
    id: input.id,
    name: input.name,
    description: input.description,
    properties,
    variables: input.variables,
    ...(errors.length > 0 ? { state: STATE_FAILED } : {}),
  });
  if (errors.length > 0) throw new MetaError(400, `Failed to parse payload: ${errors.join(', ')}`);
  return { status: 201, body: structuredClone(stored.doc) };
}

function lambdaEndpoints(c: RouteCtx): Reply {
  const lambda = c.state.get('lambda', c.params.id ?? '');
  const endpoints = c.state
    .all('apiendpoint')
    .filter((s) => s.doc.properties.implementation_type === 'lambda')
    .filter((s) => s.doc.properties.implementation_id === lambda.doc.id);
  return ok(c.state.list(endpoints, c.query));
}

// ---- API endpoints ---------------------------------------------------------------------------------------------

function upstreamUrl(type: string, implementationId: string, synchronous: unknown): string {
  if (type === 'container') return `http://${implementationId}.containers.gestalt.local:80`;
  return `http://laser.gestalt.local:9000/lambdas/${implementationId}/invoke${synchronous === false ? '' : 'Sync'}`;
}

function createEndpoint(c: RouteCtx): Reply {
  const apiId = c.params.parent ?? '';
  const api = c.state.find('api', apiId);
  if (!api) {
    if (c.version === '1.5') throw new MetaError(404, `Api with ID '${apiId}' not found.`);
    throw new MetaError(422, `No Api with id ${apiId}.`);
  }
  const input = envelope(c.body);
  const properties = isObject(input.properties) ? structuredClone(input.properties) : {};
  const type = properties.implementation_type;
  const implId = properties.implementation_id;
  if (type !== 'lambda' && type !== 'container') {
    throw new MetaError(400, "'implementation_type' must be one of 'lambda', 'container'.");
  }
  if (!isUuid(implId)) throw new MetaError(400, "'implementation_id' is missing or not a UUID.");
  const hasHosts = Array.isArray(properties.hosts) && properties.hosts.length > 0;
  if (typeof properties.resource !== 'string' && !hasHosts) {
    throw new MetaError(400, "One of 'resource' or 'hosts' is required.");
  }
  if (type === 'lambda' && !c.state.find('lambda', implId)) {
    throw new MetaError(400, `'implementation_id' ${implId} is not a Lambda.`);
  }
  const apiProvider = isObject(api.doc.properties.provider) ? api.doc.properties.provider : {};
  const locations = Array.isArray(apiProvider.locations) ? apiProvider.locations : [];
  properties.parent = c.state.link(api);
  properties.provider = structuredClone(apiProvider);
  properties.location_id = locations[0];
  properties.upstream_url = upstreamUrl(type, implId, properties.synchronous);
  // public_url arrived with Meta 1.6 and needs a configured gateway.
  if (c.version === '2.4' && c.gatewayUrl !== undefined && typeof properties.resource === 'string') {
    const resource = properties.resource.startsWith('/') ? properties.resource : `/${properties.resource}`;
    properties.public_url = `${c.gatewayUrl.replace(/\/+$/, '')}/${api.doc.name}${resource}`;
  }
  const stored = c.state.create('apiendpoint', apiId, {
    id: input.id,
    name: input.name,
    description: input.description,
    properties,
    variables: input.variables,
  });
  return { status: 201, body: structuredClone(stored.doc) };
}

/** `variables` is a string map (an hstore in Meta's database); anything else is a bad payload. */
function variablesOf(body: Record<string, unknown>): Record<string, string> | undefined {
  const v = body.variables;
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new MetaError(400, "'variables' must be an object of string values.");
  return v as Record<string, string>;
}

// ---- table -----------------------------------------------------------------------------------------------------

const r = (method: string, path: string, entitlement: string, handler: (c: RouteCtx) => Reply): Route => ({
  method,
  pattern: path === '' ? [] : path.split('/'),
  entitlement,
  handler,
});

export const ROUTES: Route[] = [
  r('GET', '', 'org.view', (c) => ok(c.state.org())),

  r('GET', 'environments', 'environment.view', listAll('environment')),
  r('GET', 'environments/:id', 'environment.view', getOne('environment')),

  r('GET', 'environments/:parent/lambdas', 'lambda.view', listChildren('lambda')),
  r('POST', 'environments/:parent/lambdas', 'lambda.create', createLambda),
  r('GET', 'environments/:parent/lambdas/:id', 'lambda.view', getOne('lambda')),
  r('PATCH', 'environments/:parent/lambdas/:id', 'lambda.update', patchOne('lambda')),
  r('DELETE', 'environments/:parent/lambdas/:id', 'lambda.delete', deleteOne('lambda')),
  r('GET', 'lambdas', 'lambda.view', listAll('lambda')),
  r('GET', 'lambdas/:id', 'lambda.view', getOne('lambda')),
  r('PATCH', 'lambdas/:id', 'lambda.update', patchOne('lambda')),
  r('DELETE', 'lambdas/:id', 'lambda.delete', deleteOne('lambda')),
  r('GET', 'lambdas/:id/apiendpoints', 'apiendpoint.view', lambdaEndpoints),

  r('GET', 'environments/:parent/apis', 'api.view', listChildren('api')),
  r('GET', 'apis', 'api.view', listAll('api')),
  r('GET', 'apis/:id', 'api.view', getOne('api')),

  r('GET', 'apis/:parent/apiendpoints', 'apiendpoint.view', listChildren('apiendpoint')),
  r('POST', 'apis/:parent/apiendpoints', 'apiendpoint.create', createEndpoint),
  r('GET', 'apis/:parent/apiendpoints/:id', 'apiendpoint.view', getOne('apiendpoint')),
  r('DELETE', 'apis/:parent/apiendpoints/:id', 'apiendpoint.delete', deleteOne('apiendpoint')),
  r('GET', 'apiendpoints', 'apiendpoint.view', listAll('apiendpoint')),
  r('GET', 'apiendpoints/:id', 'apiendpoint.view', getOne('apiendpoint')),
  r('DELETE', 'apiendpoints/:id', 'apiendpoint.delete', deleteOne('apiendpoint')),

  r('GET', 'providers', 'provider.view', listAll('provider')),
  r('GET', 'providers/:id', 'provider.view', getOne('provider')),
];

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

/** Finds the route for `method` and the segments after the FQON. Parameter values are validated by the caller. */
export function matchRoute(method: string, segments: string[]): RouteMatch | undefined {
  for (const route of ROUTES) {
    if (route.method !== method || route.pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const fits = route.pattern.every((p, i) => {
      const seg = segments[i] ?? '';
      if (p.startsWith(':')) {
        params[p.slice(1)] = seg;
        return seg !== '';
      }
      return p === seg;
    });
    if (fits) return { route, params };
  }
  return undefined;
}
