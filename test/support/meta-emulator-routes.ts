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
import { checkEndpointProperties, fillSecurityIdentities, publicUrl, upstreamUrl } from './meta-emulator-endpoints.js';
import { checkLambda } from './meta-emulator-lambda-checks.js';
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
  // Newer Meta writes the resource before the backend step that parses it (and checks its secrets): a bad payload
  // leaves a Failed lambda behind.
  const stored = c.state.create('lambda', envId, { id: input.id, name: input.name, description: input.description, properties, variables: input.variables });
  try {
    checkLambda(c.state, stored.doc.id, envId, properties);
  } catch (err) {
    stored.doc.resource_state = STATE_FAILED;
    throw err;
  }
  return { status: 201, body: structuredClone(stored.doc) };
}

/** Meta runs the backend update on the patched lambda, with the same checks as a create; a failure changes nothing. */
function patchLambda(c: RouteCtx): Reply {
  const stored = lookup(c, 'lambda');
  const patched = applyPatch(stored.doc, c.body);
  checkLambda(c.state, stored.doc.id, stored.parentId ?? '', patched.properties);
  patched.modified = { timestamp: c.state.clock.now() };
  c.state.replace(stored.doc.id, patched);
  return ok(structuredClone(patched));
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
  checkEndpointProperties(properties);
  if (type === 'lambda' && !c.state.find('lambda', implId)) {
    throw new MetaError(400, `'implementation_id' ${implId} is not a Lambda.`);
  }
  const apiProvider = isObject(api.doc.properties.provider) ? api.doc.properties.provider : {};
  const locations = Array.isArray(apiProvider.locations) ? apiProvider.locations : [];
  properties.parent = c.state.link(api);
  properties.provider = structuredClone(apiProvider);
  properties.location_id = locations[0];
  properties.upstream_url = upstreamUrl(type, implId, properties.synchronous, properties.is_http_aware);
  setPublicUrl(c, api.doc.name, properties);
  const stored = c.state.create('apiendpoint', apiId, {
    id: input.id,
    name: input.name,
    description: input.description,
    properties,
    variables: input.variables,
  });
  return { status: 201, body: structuredClone(stored.doc) };
}

/** public_url arrived with Meta 1.6 and needs a configured gateway. */
function setPublicUrl(c: RouteCtx, apiName: string, properties: Record<string, unknown>): void {
  if (c.version !== '2.4' || c.gatewayUrl === undefined) return;
  const url = publicUrl(c.gatewayUrl, apiName, properties);
  if (url) properties.public_url = url;
  else delete properties.public_url;
}

/**
 * PATCH of an endpoint (Meta's GatewayMethods.updateEndpoint): the gateway must already know the endpoint (a
 * Failed one never reached it: 404), the upstream URL is recomputed, and gestaltSecurity gets Meta's users/groups.
 */
function patchEndpoint(c: RouteCtx): Reply {
  const stored = lookup(c, 'apiendpoint');
  const patched = applyPatch(stored.doc, c.body);
  const p = patched.properties;
  const type = String(p.implementation_type ?? '');
  if (type !== 'lambda' && type !== 'container') throw new MetaError(400, "'implementation_type' must be one of 'lambda', 'container'.");
  if (!isUuid(p.implementation_id)) throw new MetaError(400, "'implementation_id' is missing or not a UUID.");
  checkEndpointProperties(p);
  if (stored.doc.resource_state === STATE_FAILED) {
    throw new MetaError(404, `No ApiEndpoint with ID '${stored.doc.id}' was found in gestalt-api-gateway`);
  }
  p.upstream_url = upstreamUrl(type, p.implementation_id, p.synchronous, p.is_http_aware);
  fillSecurityIdentities(p, c.state.ownerId);
  const api = c.state.find('api', stored.parentId ?? '');
  if (api) setPublicUrl(c, api.doc.name, p);
  patched.modified = { timestamp: c.state.clock.now() };
  c.state.replace(stored.doc.id, patched);
  return ok(structuredClone(patched));
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
  r('PATCH', 'environments/:parent/lambdas/:id', 'lambda.update', patchLambda),
  r('DELETE', 'environments/:parent/lambdas/:id', 'lambda.delete', deleteOne('lambda')),
  r('GET', 'lambdas', 'lambda.view', listAll('lambda')),
  r('GET', 'lambdas/:id', 'lambda.view', getOne('lambda')),
  r('PATCH', 'lambdas/:id', 'lambda.update', patchLambda),
  r('DELETE', 'lambdas/:id', 'lambda.delete', deleteOne('lambda')),
  r('GET', 'lambdas/:id/apiendpoints', 'apiendpoint.view', lambdaEndpoints),

  r('GET', 'environments/:parent/apis', 'api.view', listChildren('api')),
  r('GET', 'apis', 'api.view', listAll('api')),
  r('GET', 'apis/:id', 'api.view', getOne('api')),

  r('GET', 'apis/:parent/apiendpoints', 'apiendpoint.view', listChildren('apiendpoint')),
  r('POST', 'apis/:parent/apiendpoints', 'apiendpoint.create', createEndpoint),
  r('GET', 'apis/:parent/apiendpoints/:id', 'apiendpoint.view', getOne('apiendpoint')),
  r('PATCH', 'apis/:parent/apiendpoints/:id', 'apiendpoint.update', patchEndpoint),
  r('DELETE', 'apis/:parent/apiendpoints/:id', 'apiendpoint.delete', deleteOne('apiendpoint')),
  r('GET', 'apiendpoints', 'apiendpoint.view', listAll('apiendpoint')),
  r('GET', 'apiendpoints/:id', 'apiendpoint.view', getOne('apiendpoint')),
  r('PATCH', 'apiendpoints/:id', 'apiendpoint.update', patchEndpoint),
  r('DELETE', 'apiendpoints/:id', 'apiendpoint.delete', deleteOne('apiendpoint')),

  // Secrets are read here; the emulator's seedSecret stands in for POST …/environments/{id}/secrets.
  r('GET', 'environments/:parent/secrets', 'secret.view', listChildren('secret')),
  r('GET', 'environments/:parent/secrets/:id', 'secret.view', getOne('secret')),
  r('GET', 'secrets', 'secret.view', listAll('secret')),
  r('GET', 'secrets/:id', 'secret.view', getOne('secret')),

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
