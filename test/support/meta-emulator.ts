// In-memory Gestalt Meta API emulator: a real HTTP server on 127.0.0.1 for the Meta client and integration tests.
// Faithful to gestalt-meta's public sources as docs/gestalt-api.md describes them (routes, auth, links vs expand,
// filters, error bodies, 409 policy failures, leftover Failed lambdas, secret mounts, endpoint options and PATCH);
// the files next to this one hold the model, store, routes, lambda and endpoint rules, and PATCH logic.
import { STATUS_CODES, createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { FailurePlan } from './meta-emulator-failures.js';
import type { FailureSpec } from './meta-emulator-failures.js';
import { FQON_RE, MetaError, PROVIDER_TYPES, STATE_ACTIVE, STATE_FAILED, invalidUuid, isUuid } from './meta-emulator-model.js';
import type { Kind } from './meta-emulator-model.js';
import { matchRoute } from './meta-emulator-routes.js';
import type { Reply } from './meta-emulator-routes.js';
import { MetaState } from './meta-emulator-state.js';

export type { FailureSpec } from './meta-emulator-failures.js';

export interface MetaEmulatorOptions {
  /** Org FQON, default 'root'. */
  fqon?: string;
  /** API key → secret accepted with Basic auth; default {}. */
  apiKeys?: Record<string, string>;
  /** Accepted Bearer tokens; default []. */
  bearerTokens?: string[];
  /** When set (and version is 2.4), endpoints get `properties.public_url = ${gatewayUrl}/${api.name}${resource}`. */
  gatewayUrl?: string;
  /** Default '2.4'. 1.5: no public_url, unknown provider → 422, unknown API on endpoint create → 404. */
  version?: '1.5' | '2.4';
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string[]>;
  body: unknown;
  /** Final HTTP status; 0 for reset/timeout (and while the request is still being answered). */
  status: number;
  at: number;
}

type MetaRequestInfo = { method: string; path: string };

export interface MetaEmulator {
  url: string;
  fqon: string;
  requests: LoggedRequest[];
  clearRequests(): void;
  setLatency(ms: number): void;
  injectFailure(spec: FailureSpec): void;
  clearFailures(): void;
  setPolicy(deny: ((req: MetaRequestInfo) => boolean) | null): void;
  seedEnvironment(opts?: { id?: string; name?: string }): string;
  seedApi(envId: string, opts: { name: string; id?: string }): string;
  /**
   * A Lambda provider; its config names the CaaS provider its secret-mounting lambdas run on
   * (META_COMPUTE_PROVIDER_ID): the emulator's default one unless `computeProviderId` says otherwise (null: none).
   */
  seedLambdaProvider(opts?: { id?: string; name?: string; computeProviderId?: string | null }): string;
  /** The default CaaS provider (what secrets and lambda providers point at unless told otherwise). */
  caasProviderId(): string;
  /**
   * A Secret of the environment, as POST /{fqon}/environments/{id}/secrets leaves it: item keys only (Meta never
   * stores the values), on the default CaaS provider unless `providerId` is given.
   */
  seedSecret(envId: string, opts: { name: string; id?: string; keys?: string[]; providerId?: string }): string;
  /** Sets a stored resource's state, e.g. to model an endpoint whose gateway step failed. */
  setResourceState(id: string, state: 'Active' | 'Failed'): void;
  // Deep copies of stored documents; `any` so tests can reach into properties without casts.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  lambdas(): any[];
  endpoints(): any[];
  secrets(): any[];
  /* eslint-enable @typescript-eslint/no-explicit-any */
  close(): Promise<void>;
}

const WRITE_METHODS = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);
const BODY_METHODS = new Set(['POST', 'PATCH']);

function errorReply(status: number, message: string, code: number = status): Reply {
  return { status, body: { code, message } };
}

function queryRecord(params: URLSearchParams): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, value] of params) (out[key] ??= []).push(value);
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function bodyForLog(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

class Emulator implements MetaEmulator {
  url = '';
  readonly fqon: string;
  readonly requests: LoggedRequest[] = [];
  private readonly state: MetaState;
  private readonly apiKeys: Record<string, string>;
  private readonly bearerTokens: Set<string>;
  private readonly version: '1.5' | '2.4';
  private readonly gatewayUrl: string | undefined;
  private readonly failures = new FailurePlan();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private latency = 0;
  private deny: ((req: MetaRequestInfo) => boolean) | null = null;
  private closed = false;

  constructor(opts: MetaEmulatorOptions) {
    this.fqon = opts.fqon ?? 'root';
    if (!FQON_RE.test(this.fqon)) throw new Error(`invalid FQON '${this.fqon}'`);
    this.state = new MetaState(this.fqon);
    this.apiKeys = { ...opts.apiKeys };
    this.bearerTokens = new Set(opts.bearerTokens ?? []);
    this.version = opts.version ?? '2.4';
    this.gatewayUrl = opts.gatewayUrl;
    this.server = createServer((req, res) => {
      // Handlers catch their own errors; anything left is a write to a socket the client already dropped.
      this.onRequest(req, res).catch(() => res.destroy());
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
  }

  // ---- request pipeline ----------------------------------------------------------------------------------------

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://meta.invalid');
    const method = req.method ?? 'GET';
    const entry: LoggedRequest = {
      method,
      path: url.pathname,
      query: queryRecord(url.searchParams),
      body: undefined,
      status: 0,
      at: Date.now(),
    };
    this.requests.push(entry);
    // Decided on arrival, so "the first N matching requests" follows arrival order even under latency.
    const failure = this.failures.pick({ method, path: url.pathname });
    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      return; // client went away mid-body
    }
    entry.body = bodyForLog(raw);
    if (this.latency > 0) await this.sleep(this.latency);
    if (this.closed) return;
    if (failure && !failure.afterHandling) return this.fail(failure, req, res, entry);
    const reply = this.answer(method, url, req.headers, raw);
    if (failure) return this.fail(failure, req, res, entry);
    this.send(res, reply, entry);
  }

  private answer(method: string, url: URL, headers: IncomingHttpHeaders, raw: string): Reply {
    try {
      return this.route(method, url, headers, raw);
    } catch (err) {
      if (err instanceof MetaError) return errorReply(err.status, err.message, err.code);
      return errorReply(500, err instanceof Error ? err.message : String(err));
    }
  }

  /**
   * Order follows Meta (Play): the router (trailing slash, FQON pattern, route, UUID path binders) answers before
   * any action code; the action then authenticates, resolves the org, parses the body, checks policy, and runs.
   */
  private route(method: string, url: URL, headers: IncomingHttpHeaders, raw: string): Reply {
    const path = url.pathname;
    // For every method, before auth: Meta's router redirects "untrailed" paths ahead of any action.
    if (path.length > 1 && path.endsWith('/')) {
      return { status: 301, headers: { location: path.replace(/\/+$/, '') + url.search } };
    }
    const [fqon = '', ...rest] = path.slice(1).split('/');
    const match = FQON_RE.test(fqon) ? matchRoute(method, rest) : undefined;
    if (!match) throw new MetaError(404, `ROUTE_NOT_FOUND: ${path}`);
    for (const value of Object.values(match.params)) if (!isUuid(value)) throw invalidUuid(value);

    if (!this.authenticated(headers.authorization)) return this.unauthorized(fqon);
    if (fqon !== this.fqon) {
      // The security service 404s the org, which Meta passes on as 401; only GET /{fqon} answers a clean 404.
      if (match.route.pattern.length === 0) throw new MetaError(404, `Org with FQON '${fqon}' not found.`);
      return this.unauthorized(fqon);
    }

    const body = BODY_METHODS.has(method) ? parseJsonBody(headers['content-type'], raw) : undefined;
    if (this.deny?.({ method, path })) {
      const message = `You do not have permission to perform this action. Failed: '${match.route.entitlement}'`;
      // Meta reports policy failures on writes as 409 Conflict, on reads as 403.
      throw new MetaError(WRITE_METHODS.has(method) ? 409 : 403, message);
    }
    return match.route.handler({
      state: this.state,
      version: this.version,
      gatewayUrl: this.gatewayUrl,
      params: match.params,
      query: queryRecord(url.searchParams),
      body,
    });
  }

  private authenticated(header: string | undefined): boolean {
    const [scheme = '', credentials = ''] = (header ?? '').split(' ', 2);
    if (scheme.toLowerCase() === 'basic') {
      // Meta splits on ':' and expects exactly two parts, so a secret containing ':' never authenticates.
      const parts = Buffer.from(credentials, 'base64').toString('utf8').split(':');
      const [key = '', secret] = parts;
      return parts.length === 2 && Object.hasOwn(this.apiKeys, key) && this.apiKeys[key] === secret;
    }
    if (scheme.toLowerCase() === 'bearer') return this.bearerTokens.has(credentials);
    return false;
  }

  private unauthorized(fqon: string): Reply {
    return {
      status: 401,
      body: { code: 401, message: 'Authentication required', resource: '', developerMessage: '' },
      headers: { 'www-authenticate': `Bearer realm="${this.url}/${fqon}/oauth/issue" error="invalid_token"` },
    };
  }

  private send(res: ServerResponse, reply: Reply, entry: LoggedRequest): void {
    const headers: Record<string, string> = { ...reply.headers };
    let payload = '';
    if (reply.body !== undefined) {
      payload = JSON.stringify(reply.body);
      headers['content-type'] = 'application/json';
    }
    headers['content-length'] = String(Buffer.byteLength(payload));
    entry.status = reply.status;
    res.writeHead(reply.status, headers);
    res.end(payload);
  }

  private fail(failure: FailureSpec, req: IncomingMessage, res: ServerResponse, entry: LoggedRequest): void {
    if (failure.kind === 'reset') {
      req.socket.resetAndDestroy();
    } else if (failure.kind === 'status') {
      const status = failure.status ?? 503;
      this.send(res, errorReply(status, `${STATUS_CODES[status] ?? 'Error'} (injected failure)`), entry);
    }
    // 'timeout': never answer; the socket stays open until the client gives up or close() destroys it.
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const sleeper = {
        timer: setTimeout(() => {
          this.sleepers.delete(sleeper);
          resolve();
        }, ms),
        resolve,
      };
      this.sleepers.add(sleeper);
    });
  }

  // ---- test controls -------------------------------------------------------------------------------------------

  clearRequests(): void {
    this.requests.length = 0; // keep the array identity: callers may hold a reference
  }

  setLatency(ms: number): void {
    this.latency = Math.max(0, ms);
  }

  injectFailure(spec: FailureSpec): void {
    this.failures.add(spec);
  }

  clearFailures(): void {
    this.failures.clear();
  }

  setPolicy(deny: ((req: MetaRequestInfo) => boolean) | null): void {
    this.deny = deny;
  }

  seedEnvironment(opts: { id?: string; name?: string } = {}): string {
    checkSeedId(opts.id);
    const env = this.state.create('environment', undefined, {
      id: opts.id,
      name: opts.name ?? 'development',
      properties: { environment_type: 'development' },
    });
    return env.doc.id;
  }

  seedApi(envId: string, opts: { name: string; id?: string }): string {
    checkSeedId(opts.id);
    const env = this.state.find('environment', envId);
    if (!env) throw new Error(`seedApi: no environment ${envId}`);
    const { managerId, kongId } = this.state.gatewayProviders();
    const api = this.state.create('api', envId, {
      id: opts.id,
      name: opts.name,
      properties: { provider: { id: managerId, locations: [kongId] }, parent: this.state.link(env) },
    });
    return api.doc.id;
  }

  seedLambdaProvider(opts: { id?: string; name?: string; computeProviderId?: string | null } = {}): string {
    checkSeedId(opts.id);
    const compute = opts.computeProviderId === undefined ? this.state.caasProvider() : opts.computeProviderId;
    const env = { SERVICE_HOST: 'laser.gestalt.local', SERVICE_PORT: '9000', ...(compute ? { META_COMPUTE_PROVIDER_ID: compute } : {}) };
    const provider = this.state.create('provider', undefined, {
      id: opts.id,
      name: opts.name ?? 'default-laser',
      type: PROVIDER_TYPES.lambda,
      properties: { config: { env: { public: env } }, linked_providers: [] },
    });
    return provider.doc.id;
  }

  caasProviderId(): string {
    return this.state.caasProvider();
  }

  seedSecret(envId: string, opts: { name: string; id?: string; keys?: string[]; providerId?: string }): string {
    checkSeedId(opts.id);
    const env = this.state.find('environment', envId);
    if (!env) throw new Error(`seedSecret: no environment ${envId}`);
    const providerId = opts.providerId ?? this.state.caasProvider();
    const provider = this.state.find('provider', providerId);
    const secret = this.state.create('secret', envId, {
      id: opts.id,
      name: opts.name,
      properties: {
        provider: { id: providerId, name: provider?.doc.name ?? 'kubernetes' },
        items: (opts.keys ?? []).map((key) => ({ key })),
        parent: this.state.link(env),
      },
    });
    return secret.doc.id;
  }

  setResourceState(id: string, state: 'Active' | 'Failed'): void {
    const kinds: Kind[] = ['lambda', 'apiendpoint', 'api', 'secret'];
    const found = kinds.map((k) => this.state.find(k, id)).find((f) => f !== undefined);
    if (!found) throw new Error(`setResourceState: no resource ${id}`);
    found.doc.resource_state = state === 'Failed' ? STATE_FAILED : STATE_ACTIVE;
  }

  lambdas(): MetaDoc[] {
    return this.state.all('lambda').map((s) => structuredClone(s.doc));
  }

  endpoints(): MetaDoc[] {
    return this.state.all('apiendpoint').map((s) => structuredClone(s.doc));
  }

  secrets(): MetaDoc[] {
    return this.state.all('secret').map((s) => structuredClone(s.doc));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Wake delayed requests (they see `closed` and drop out), then kill every socket, held ones included.
    for (const s of this.sleepers) {
      clearTimeout(s.timer);
      s.resolve();
    }
    this.sleepers.clear();
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await stopped;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type MetaDoc = any;

function checkSeedId(id: string | undefined): void {
  if (id !== undefined && !isUuid(id)) throw new Error(`seed id '${id}' is not a UUID`);
}

/** POST/PATCH bodies: application/json only (else 500 carrying code 415, as Play answers); bad JSON → 400. */
function parseJsonBody(contentType: string | undefined, raw: string): unknown {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (media !== 'application/json') {
    throw new MetaError(500, 'Expecting text/json or application/json body', 415);
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw new MetaError(400, `Invalid Json: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function startMetaEmulator(opts: MetaEmulatorOptions = {}): Promise<MetaEmulator> {
  const emulator = new Emulator(opts);
  await emulator.listen();
  return emulator;
}
