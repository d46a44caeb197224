import type { PackagedFunction } from '../../artifacts/functions.js';
import type { Config, MetaSettings } from '../../config/types.js';
import { ConfigError, RemoteError, type Problem } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { isTransientStatus, NetworkError, type HttpClient } from '../../net/http.js';
import { withRetry } from '../../net/retry.js';
import type { DeploymentRecord, RecordedFunction } from '../../record/types.js';
import type { DeployRequest, DeployResult, FieldChange, GestaltTarget, Placement, PlanResult, RemoveResult } from '../types.js';
import { MetaClient, MetaError, type MetaResource } from './client.js';
import { metaFailure } from './errors.js';
import { endpointPatch } from './endpoint.js';
import { endpointPayload, endpointUrl, FAILED_STATE, lambdaPatch, lambdaPayload } from './lambda.js';
import { computeProviderOf, resolveSecretMounts, type SecretMountPayload } from './secrets.js';

interface Snapshot {
  env: Placement;
  api?: MetaResource;
  lambdas: Map<string, MetaResource[]>; // by name; Meta allows duplicates
  endpointsByLambda: Map<string, MetaResource[]>;
}

/** Direct mode: the runner drives Meta itself — four lookups per run, then only the writes that change something. */
export class MetaTarget implements GestaltTarget {
  readonly mode = 'meta' as const;
  readonly label: string;
  private readonly meta: MetaClient;
  private snapshot: Snapshot | undefined;
  /** Secret mounts resolved by preflight, by function name. */
  private readonly secretMounts = new Map<string, SecretMountPayload[]>();

  constructor(
    private readonly settings: MetaSettings,
    private readonly config: Config,
    http: HttpClient,
    private readonly log: Logger,
  ) {
    this.meta = new MetaClient(settings, http);
    this.label = `Gestalt Meta ${settings.url} (org ${settings.org})`;
  }

  async prepare(placement: Placement | undefined, purpose: 'deploy' | 'plan' | 'stop'): Promise<void> {
    if (!placement?.environmentId) return;
    const envPath = `/environments/${placement.environmentId}`;
    const needApi = purpose !== 'stop';
    // The environment GET proves org and environment at once; lists don't check their parent, so they run
    // alongside. Its failure is explained first: an unknown org makes every call answer 401.
    const [envRead, apiList, lambdaList] = await Promise.allSettled([
      this.meta.get(envPath),
      needApi ? this.meta.list(`${envPath}/apis`) : Promise.resolve([]),
      this.meta.list(`${envPath}/lambdas`),
    ]);
    if (envRead.status === 'rejected') await this.explainEnvironment(envRead.reason, placement.environmentId);
    if (apiList.status === 'rejected') throw metaFailure(`list the APIs of environment ${placement.environmentId}`, apiList.reason, this.settings.org);
    if (lambdaList.status === 'rejected') throw metaFailure(`list the lambdas of environment ${placement.environmentId}`, lambdaList.reason, this.settings.org);
    const apis = apiList.value;
    const lambdas = lambdaList.value;
    const snapshot: Snapshot = { env: placement, lambdas: groupBy(lambdas, (l) => l.name), endpointsByLambda: new Map() };
    if (needApi) {
      snapshot.api = apis.find((a) => a.name === placement.api);
      if (!snapshot.api) {
        const known = apis.map((a) => a.name).sort();
        throw new RemoteError(`LAMBDA_API '${placement.api}' names no API in environment ${placement.environmentId}; ${known.length ? `its APIs are: ${known.join(', ')}` : 'it has no APIs yet — create one in Gestalt first'}.`);
      }
      const endpoints = await this.meta.list(`/apis/${snapshot.api.id}/apiendpoints`).catch((err) => Promise.reject(metaFailure(`list the endpoints of API '${placement.api}'`, err, this.settings.org)));
      snapshot.endpointsByLambda = groupBy(endpoints.filter((e) => e.properties?.implementation_type === 'lambda'), (e) => String(e.properties?.implementation_id ?? ''));
    }
    this.snapshot = snapshot;
  }

  /**
   * The secrets the functions mount must exist in the environment and be ones Meta accepts for these lambdas;
   * a mistake is a configuration error naming the file:line, found before any upload or write. Reads the
   * environment's secrets (and the lambda provider) only when some function mounts one.
   */
  async preflight(functions: PackagedFunction[]): Promise<void> {
    this.secretMounts.clear();
    const withSecrets = functions.filter((f) => f.secrets?.length);
    if (withSecrets.length === 0) return;
    const envId = this.requireSnapshot().env.environmentId;
    const [secrets, provider] = await Promise.all([
      this.meta.list(`/environments/${envId}/secrets`).catch((err: unknown) => Promise.reject(metaFailure(`list the secrets of environment ${envId}`, err, this.settings.org))),
      this.providerId() ? this.meta.get(`/providers/${this.providerId()}`).catch(() => undefined) : Promise.resolve(undefined),
    ]);
    const ctx = { environmentId: envId, secrets, computeProviderId: computeProviderOf(provider) };
    const problems = new Map<string, Problem>(); // functions sharing a defaults: entry share its problems
    for (const fn of withSecrets) {
      const resolved = resolveSecretMounts(fn.secrets ?? [], ctx);
      for (const p of resolved.problems) problems.set(`${p.variable}\n${p.message}`, p);
      this.secretMounts.set(fn.name, resolved.mounts);
    }
    if (problems.size > 0) throw new ConfigError([...problems.values()]);
  }

  async plan(req: DeployRequest): Promise<PlanResult> {
    const snap = this.requireSnapshot();
    const existing = this.current(req.fn.name);
    const desired = this.desired(req);
    if (!existing || existing.resource_state === FAILED_STATE) return { action: 'create', endpoint: 'create' };
    const { changed, changes } = lambdaPatch(existing, desired);
    const endpoints = snap.endpointsByLambda.get(existing.id) ?? [];
    const active = endpoints.find((e) => e.resource_state !== FAILED_STATE);
    const endpointChanges = active ? endpointPatch(active, req.fn.methods, req.fn.endpoint ?? {}).changes : [];
    const endpoint: PlanResult['endpoint'] = active ? (endpointChanges.length ? 'update' : 'existing') : endpoints.length ? 'replace' : 'create';
    return { action: changed.length ? 'update' : 'unchanged', changed, changes: [...changes, ...endpointChanges], endpoint };
  }

  async deploy(req: DeployRequest): Promise<DeployResult> {
    const { fn } = req;
    const desired = this.desired(req);
    let existing = this.current(fn.name);
    if (existing?.resource_state === FAILED_STATE) {
      // A create that failed in Meta's backend leaves the lambda stored as Failed: replace it, never duplicate.
      this.log.info(`  ${fn.name}: replacing a leftover lambda in state Failed (${existing.id})`);
      await this.deleteLambdaAndEndpoints(existing.id, `replace the Failed lambda '${fn.name}'`);
      existing = undefined;
    }
    const { lambda, action, changed, changes } = existing ? await this.update(existing, desired) : { lambda: await this.createLambda(desired), action: 'created' as const, changed: undefined, changes: [] };
    const lambdaId = lambda.id;
    const synced = await this.syncEndpoint(fn, lambdaId);
    const allChanges = [...changes, ...synced.changes];
    return {
      action,
      changed,
      ...(allChanges.length > 0 ? { changes: allChanges } : {}),
      endpoint: synced.action,
      id: lambdaId,
      endpointIds: [synced.endpoint.id],
      url: endpointUrl(synced.endpoint, this.requireSnapshot().api?.name ?? '', this.settings.gatewayUrl),
    };
  }

  private desired(req: DeployRequest): ReturnType<typeof lambdaPayload> {
    const { fn } = req;
    const mounts = this.secretMounts.get(fn.name);
    // A programming error, not the user's: the run must call preflight between prepare and the first write.
    if (fn.secrets?.length && !mounts) throw new Error(`the secrets of '${fn.name}' were not checked (preflight did not run)`);
    return lambdaPayload(fn, req.packageUrl, this.providerId(), this.config.job, mounts);
  }

  private async update(existing: MetaResource, desired: ReturnType<typeof lambdaPayload>): Promise<{ lambda: MetaResource; action: DeployResult['action']; changed: string[]; changes: FieldChange[] }> {
    const { ops, changed, changes } = lambdaPatch(existing, desired);
    if (ops.length === 0) return { lambda: existing, action: 'unchanged', changed, changes };
    const path = `/environments/${this.requireSnapshot().env.environmentId}/lambdas/${existing.id}`;
    const lambda = await this.meta.patch(path, ops).catch((err: unknown) => Promise.reject(metaFailure(`update lambda '${desired.name}'`, err, this.settings.org)));
    return { lambda, action: 'updated', changed, changes };
  }

  /**
   * The lambda's endpoint brought up to date: an Active one is PATCHed with what differs (nothing when nothing
   * does); a Failed one never reached the gateway, so Meta cannot update it: it is deleted and created anew.
   */
  private async syncEndpoint(fn: PackagedFunction, lambdaId: string): Promise<{ endpoint: MetaResource; action: DeployResult['endpoint']; changes: FieldChange[] }> {
    const all = this.requireSnapshot().endpointsByLambda.get(lambdaId) ?? [];
    const active = all.find((e) => e.resource_state !== FAILED_STATE);
    if (active) {
      const { ops, changes } = endpointPatch(active, fn.methods, fn.endpoint ?? {});
      if (ops.length === 0) return { endpoint: active, action: 'existing', changes };
      const endpoint = await this.meta.patch(`/apiendpoints/${active.id}`, ops).catch((err: unknown) => Promise.reject(metaFailure(`update the endpoint of '${fn.name}'`, err, this.settings.org)));
      return { endpoint, action: 'updated', changes };
    }
    for (const failed of all) {
      this.log.info(`  ${fn.name}: replacing its endpoint in state Failed (${failed.id})`);
      await this.meta.delete(`/apiendpoints/${failed.id}`).catch((err: unknown) => Promise.reject(metaFailure(`delete the Failed endpoint of '${fn.name}'`, err, this.settings.org)));
    }
    const endpoint = await this.createEndpoint(fn.name, lambdaId, fn.methods, fn.endpoint);
    return { endpoint, action: all.length > 0 ? 'replaced' : 'created', changes: [] };
  }

  async remove(fn: RecordedFunction, record: DeploymentRecord): Promise<RemoveResult> {
    const envId = record.environmentId ?? this.config.environmentId;
    const id = fn.id ?? this.current(fn.name)?.id;
    if (!envId || !id) return { outcome: 'absent', endpoints: 0 };
    const endpoints = await this.deleteLambdaAndEndpoints(id, `remove lambda '${fn.name}'`, envId);
    return endpoints === -1 ? { outcome: 'absent', endpoints: 0 } : { outcome: 'removed', endpoints };
  }

  async discover(namePrefix: string): Promise<RecordedFunction[]> {
    const snap = this.requireSnapshot();
    const now = new Date().toISOString();
    return [...snap.lambdas.values()].flat().filter((l) => l.name.startsWith(namePrefix)).map((l) => ({
      name: l.name,
      file: l.name.slice(namePrefix.length),
      runtime: String(l.properties?.runtime ?? ''),
      handler: String(l.properties?.handler ?? ''),
      packageKey: '',
      sha256: '',
      id: l.id,
      deployedAt: now,
    }));
  }

  async probe(): Promise<string> {
    try {
      const org = await this.meta.org();
      return `Meta answered for org '${String(org.properties?.fqon ?? this.settings.org)}' with these credentials`;
    } catch (err) {
      throw metaFailure(`read org '${this.settings.org}'`, err, this.settings.org);
    }
  }

  private requireSnapshot(): Snapshot {
    if (!this.snapshot) throw new RemoteError('LAMBDA_ENVIRONMENT_ID is needed to find the functions in Gestalt.');
    return this.snapshot;
  }

  private providerId(): string {
    return this.settings.providerId ?? '';
  }

  /** The Active lambda of that name if there is one, else whatever is there (a Failed leftover). */
  private current(name: string): MetaResource | undefined {
    const all = this.snapshot?.lambdas.get(name) ?? [];
    return all.find((l) => l.resource_state !== FAILED_STATE) ?? all[0];
  }

  private async createLambda(desired: ReturnType<typeof lambdaPayload>): Promise<MetaResource> {
    const path = `/environments/${this.requireSnapshot().env.environmentId}/lambdas`;
    try {
      return await this.createOnce(`create lambda '${desired.name}'`, () => this.meta.create(path, desired), async () => {
        const found = await this.meta.list(path, { name: desired.name }).catch(() => []);
        const stored = found.find((l) => l.resource_state !== FAILED_STATE);
        if (stored) return stored;
        for (const leftover of found) await this.deleteLambdaAndEndpoints(leftover.id, `clean up the Failed lambda '${desired.name}'`);
        return undefined;
      });
    } catch (err) {
      if (err instanceof MetaError && err.status === 404 && /provider/i.test(err.metaMessage)) throw this.providerMissing(err);
      if (err instanceof MetaError && (err.status === 404 || err.status === 422)) throw await this.explainCreate(err, desired.name);
      throw metaFailure(`create lambda '${desired.name}'`, err, this.settings.org);
    }
  }

  private async createEndpoint(name: string, lambdaId: string, methods: string[], options: PackagedFunction['endpoint'] = {}): Promise<MetaResource> {
    const api = this.requireSnapshot().api as MetaResource;
    const what = `create the endpoint of '${name}' under API '${api.name}'`;
    try {
      return await this.createOnce(what, () => this.meta.create(`/apis/${api.id}/apiendpoints`, endpointPayload(name, lambdaId, methods, options)), async () => {
        const found = await this.meta.list('/apiendpoints', { implementation_type: 'lambda', implementation_id: lambdaId }).catch(() => []);
        return found[0];
      });
    } catch (err) {
      throw metaFailure(what, err, this.settings.org);
    }
  }

  /**
   * A create is never repeated blindly: when its answer was lost (network error, 429, 5xx), the next
   * attempt first looks for what Meta may have stored, and only creates again when it finds nothing.
   */
  private createOnce(what: string, create: () => Promise<MetaResource>, lookup: () => Promise<MetaResource | undefined>): Promise<MetaResource> {
    return withRetry(
      async (attempt) => {
        if (attempt > 1) {
          const stored = await lookup();
          if (stored) {
            this.log.info(`  ${what}: the create's answer was lost but Meta stored it (${stored.id}); using it`);
            return stored;
          }
        }
        return create();
      },
      (err) => (err instanceof NetworkError || (err instanceof MetaError && isTransientStatus(err.status)) ? 'retry' : 'fail'),
      this.config.http.retry,
      { onRetry: ({ attempt, delayMs, error }) => this.log.info(`  ${what}: ${error instanceof Error ? error.message : String(error)}; checking what Meta stored, retry ${attempt} in ${delayMs} ms`) },
    );
  }

  /** Endpoints first (Meta does not cascade), then the lambda. -1 when the lambda was already gone. */
  private async deleteLambdaAndEndpoints(lambdaId: string, what: string, envId = this.snapshot?.env.environmentId): Promise<number> {
    try {
      const endpoints = await this.meta.list('/apiendpoints', { implementation_type: 'lambda', implementation_id: lambdaId });
      for (const e of endpoints) await this.meta.delete(`/apiendpoints/${e.id}`);
      const gone = await this.meta.delete(`/environments/${envId}/lambdas/${lambdaId}`);
      return gone === 'absent' && endpoints.length === 0 ? -1 : endpoints.length;
    } catch (err) {
      throw metaFailure(what, err, this.settings.org);
    }
  }

  private async explainEnvironment(err: unknown, envId: string): Promise<never> {
    if (err instanceof MetaError && (err.status === 401 || err.status === 404)) {
      // An unknown org on an org-scoped route looks like bad credentials; GET /{org} tells them apart.
      const orgKnown = await this.meta.org().then(
        () => true,
        (e) => !(e instanceof MetaError && e.status === 404),
      );
      if (!orgKnown) throw new RemoteError(`GESTALT_ORG '${this.settings.org}' is not an org in Gestalt Meta; use the org's FQON (e.g. root or acme.engineering).`);
      if (err.status === 404) throw new RemoteError(`LAMBDA_ENVIRONMENT_ID ${envId} is not an environment in org '${this.settings.org}'; copy the environment's id from Gestalt.`);
    }
    throw metaFailure(`read environment ${envId}`, err, this.settings.org);
  }

  private providerMissing(err: MetaError): RemoteError {
    return new RemoteError(`GESTALT_LAMBDA_PROVIDER_ID ${this.providerId()} is not a Lambda provider in org '${this.settings.org}' (Meta: ${err.metaMessage}); use the id of a Lambda provider (GET /${this.settings.org}/providers?type=Lambda).`, { cause: err });
  }

  private async explainCreate(err: MetaError, name: string): Promise<Error> {
    // Meta 1.5 answers an unknown provider with 422; check the provider before blaming the payload.
    const providerOk = await this.meta.get(`/providers/${this.providerId()}`).then(
      () => true,
      () => false,
    );
    if (!providerOk) return this.providerMissing(err);
    return metaFailure(`create lambda '${name}'`, err, this.settings.org);
  }
}

function groupBy(items: MetaResource[], key: (item: MetaResource) => string): Map<string, MetaResource[]> {
  const map = new Map<string, MetaResource[]>();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
}
