// A Meta emulator seeded with one environment, its API 'dev1' and a Lambda provider, and MetaTargets wired to
// it in-process exactly as the run wires them (MetaClient over createHttpClient), logging into a collector.
import { afterEach, beforeEach } from 'vitest';
import type { JobContext, MetaSettings } from '../../src/config/types.js';
import { ownershipMark } from '../../src/gestalt/meta/ownership.js';
import { MetaTarget } from '../../src/gestalt/meta/target.js';
import type { DeployRequest, DeployResult, GestaltSession } from '../../src/gestalt/types.js';
import { startMetaEmulator, type LoggedRequest, type MetaEmulator, type MetaEmulatorOptions } from '../support/meta-emulator.js';
import { BEARER, collectingLogger, FAST_RETRY, GF_BASIC, GF_KEY, GF_SECRET, httpClient, JOB, packaged, packageUrl, type Collected } from './fixtures.js';

export const GATEWAY = 'https://gw.example.test';

export interface MetaWorld {
  meta: MetaEmulator;
  envId: string;
  apiId: string;
  providerId: string;
  collected: Collected;
  settings(overrides?: Partial<MetaSettings>): MetaSettings;
  target(overrides?: Partial<MetaSettings>, options?: { job?: JobContext; timeoutMs?: number }): MetaTarget;
  /** Opens a deploy session, deploys these packages one by one, and forgets the requests that took. */
  deployed(files: string[]): Promise<{ id: string; endpointId: string }[]>;
  /**
   * The requests Meta received as `METHOD /path?query`, ids replaced by names: {env}, {api}, {provider}, those in
   * `names`, and {?} for any other id (a test that sees {?} did not expect that resource).
   */
  calls(names?: Record<string, string>): string[];
  /** Only the writes (POST, PATCH, DELETE). */
  writes(names?: Record<string, string>): string[];
  /** A request made by hand under /root, as a person or another tool would make it with the same key. */
  admin(method: string, path: string, body?: unknown): Promise<Response>;
}

/** The ownership mark the runner puts on what it creates for JOB. */
export const MARKS = ownershipMark({ projectPath: JOB.projectPath, environment: JOB.environment });

export async function startMetaWorld(options: MetaEmulatorOptions = {}): Promise<MetaWorld> {
  const meta = await startMetaEmulator({ apiKeys: { [GF_KEY]: GF_SECRET }, bearerTokens: [BEARER], gatewayUrl: GATEWAY, ...options });
  const envId = meta.seedEnvironment({ name: 'dev' });
  const apiId = meta.seedApi(envId, { name: 'dev1' });
  const providerId = meta.seedLambdaProvider();
  meta.clearRequests();
  const collected = collectingLogger();

  const settings = (overrides: Partial<MetaSettings> = {}): MetaSettings => ({
    mode: 'meta',
    url: meta.url,
    org: 'root',
    providerId,
    gatewayUrl: GATEWAY,
    auth: { kind: 'basic', key: GF_KEY, secret: GF_SECRET },
    ...overrides,
  });
  const target = (overrides: Partial<MetaSettings> = {}, options: { job?: JobContext; timeoutMs?: number } = {}) =>
    new MetaTarget(settings(overrides), options.job ?? JOB, FAST_RETRY, httpClient(collected.log, options.timeoutMs), collected.log);
  const format = (r: LoggedRequest, names: Record<string, string>) => {
    const all: Record<string, string> = { [envId]: '{env}', [apiId]: '{api}', [providerId]: '{provider}', ...names };
    const query = Object.entries(r.query).flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`)).join('&');
    const text = `${r.method} ${r.path}${query ? `?${query}` : ''}`;
    return text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => all[id] ?? '{?}');
  };

  const world: MetaWorld = {
    meta,
    envId,
    apiId,
    providerId,
    collected,
    settings,
    target,
    async deployed(files) {
      const session = await target().open({ api: 'dev1', environmentId: envId }, 'deploy');
      const out: { id: string; endpointId: string }[] = [];
      for (const file of files) {
        const result = await deployTo(session, file);
        out.push({ id: result.id ?? '', endpointId: result.endpointIds?.[0] ?? '' });
      }
      meta.clearRequests();
      return out;
    },
    calls: (names = {}) => meta.requests.map((r) => format(r, names)),
    writes: (names = {}) => meta.requests.filter((r) => r.method !== 'GET').map((r) => format(r, names)),
    admin: (method, path, body) =>
      fetch(`${meta.url}/root${path}`, { method, headers: { 'content-type': 'application/json', authorization: `Basic ${GF_BASIC}` }, body: body === undefined ? undefined : JSON.stringify(body) }),
  };
  return world;
}

/** A fresh world for each test of the file, handed to `use`; after the test, no secret in its log, and it is closed. */
export function worldPerTest(use: (world: MetaWorld) => void): void {
  let world: MetaWorld | undefined;
  beforeEach(async () => {
    world = await startMetaWorld();
    use(world);
  });
  afterEach(async () => {
    world?.collected.expectNoSecrets();
    await world?.meta.close();
  });
}

/** A world of its own (another Meta version) for one test, closed and checked for secrets after `body`. */
export async function inWorld(options: MetaEmulatorOptions, body: (world: MetaWorld) => Promise<void>): Promise<void> {
  const world = await startMetaWorld(options);
  try {
    await body(world);
    world.collected.expectNoSecrets();
  } finally {
    await world.meta.close();
  }
}

/** What plan takes, and deploy without its claim. */
export function request(file: string, extra: Partial<Omit<DeployRequest, 'claim'>> = {}): Omit<DeployRequest, 'claim'> {
  return { fn: packaged(file), packageKey: `acme/lambdas/packages/${'a'.repeat(64)}/${file}`, packageUrl: packageUrl(file), ...extra };
}

/** Deploys as the run does: the session's claim for the function first, then the deploy carrying it. */
export function deployTo(session: GestaltSession, file: string, extra: Partial<Omit<DeployRequest, 'claim'>> = {}): Promise<DeployResult> {
  const req = request(file, extra);
  return session.deploy({ ...req, claim: session.claim(req.fn) });
}

/** The four lookups `open` sends side by side (the provider too), then the endpoint list; parallel ones are compared as a set. */
export const DEPLOY_LOOKUPS = ['GET /root/environments/{env}', 'GET /root/environments/{env}/apis?expand=true', 'GET /root/environments/{env}/lambdas?expand=true', 'GET /root/providers/{provider}'];
export const ENDPOINT_LOOKUP = 'GET /root/apis/{api}/apiendpoints?expand=true';

export async function openDeploy(world: MetaWorld, api = 'dev1'): Promise<GestaltSession> {
  return world.target().open({ api, environmentId: world.envId }, 'deploy');
}
