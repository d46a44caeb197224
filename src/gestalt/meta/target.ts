import type { JobContext, MetaSettings } from '../../config/types.js';
import { RemoteError, RemoteFailures } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { HttpClient } from '../../net/http.js';
import type { RetryPolicy } from '../../net/retry.js';
import type { GestaltSession, GestaltTarget, Placement, Purpose } from '../types.js';
import { MetaClient, MetaError, type MetaResource } from './client.js';
import { metaFailure, providerNotFound } from './errors.js';
import { MetaSession, type Snapshot } from './session.js';

/** Direct mode: the runner drives Meta itself — four lookups per run, then only the writes that change something. */
export class MetaTarget implements GestaltTarget {
  readonly mode = 'meta' as const;
  readonly label: string;
  private readonly meta: MetaClient;

  constructor(
    private readonly settings: MetaSettings,
    private readonly job: Pick<JobContext, 'ref' | 'sha' | 'projectPath' | 'environment'>,
    private readonly retry: RetryPolicy,
    http: HttpClient,
    private readonly log: Logger,
  ) {
    this.meta = new MetaClient(settings, http);
    this.label = `Gestalt Meta ${settings.url} (org ${settings.org})`;
  }

  async open(placement: Placement | undefined, purpose: Purpose): Promise<GestaltSession> {
    if (!placement?.environmentId) return this.session(undefined);
    const envPath = `/environments/${placement.environmentId}`;
    const needApi = purpose !== 'stop';
    const providerId = needApi ? this.settings.providerId : undefined;
    // The environment GET proves org and environment at once; lists don't check their parent, so they run
    // alongside, and so does the provider (new functions run on it). The environment's failure is explained
    // first: an unknown org makes every call answer 401.
    const [envRead, apiList, lambdaList, providerRead] = await Promise.allSettled([
      this.meta.get(envPath),
      needApi ? this.meta.list(`${envPath}/apis`) : Promise.resolve([]),
      this.meta.list(`${envPath}/lambdas`),
      providerId ? this.meta.get(`/providers/${providerId}`) : Promise.resolve(undefined),
    ]);
    if (envRead.status === 'rejected') await this.explainEnvironment(envRead.reason, placement.environmentId);
    // Independent causes are all reported, one sentence each.
    const reasons: Error[] = [];
    const providerReason = providerId ? this.checkProvider(providerId, providerRead) : undefined;
    if (providerReason) reasons.push(providerReason);
    const snapshot: Snapshot = { env: placement, lambdas: new Map(), endpointsByLambda: new Map() };
    if (apiList.status === 'rejected') reasons.push(metaFailure(`list the APIs of environment ${placement.environmentId}`, apiList.reason, this.settings.org));
    else if (needApi) {
      snapshot.api = apiList.value.find((a) => a.name === placement.api);
      if (!snapshot.api) {
        const known = apiList.value.map((a) => a.name).sort();
        reasons.push(new RemoteError(`LAMBDA_API '${placement.api}' names no API in environment ${placement.environmentId}; ${known.length ? `its APIs are: ${known.join(', ')}` : 'it has no APIs yet — create one in Gestalt first'}.`));
      }
    }
    if (lambdaList.status === 'rejected') reasons.push(metaFailure(`list the lambdas of environment ${placement.environmentId}`, lambdaList.reason, this.settings.org));
    else snapshot.lambdas = groupBy(lambdaList.value, (l) => l.name);
    if (reasons.length > 0) throw reasons.length === 1 ? reasons[0] : new RemoteFailures(reasons.map((r) => r.message));
    if (providerRead.status === 'fulfilled' && providerRead.value) snapshot.provider = providerRead.value;
    if (snapshot.api) {
      const endpoints = await this.meta.list(`/apis/${snapshot.api.id}/apiendpoints`).catch((err) => Promise.reject(metaFailure(`list the endpoints of API '${placement.api}'`, err, this.settings.org)));
      snapshot.endpointsByLambda = groupBy(endpoints.filter((e) => e.properties?.implementation_type === 'lambda'), (e) => String(e.properties?.implementation_id ?? ''));
    }
    return this.session(snapshot);
  }

  /** The provider new functions run on must be a Lambda provider of this org; undefined when it is (or cannot be told). */
  private checkProvider(providerId: string, read: PromiseSettledResult<MetaResource | undefined>): Error | undefined {
    if (read.status === 'rejected') {
      const err = read.reason as unknown;
      if (err instanceof MetaError && err.status === 404) return providerNotFound(providerId, this.settings.org, err.metaMessage);
      if (err instanceof MetaError && err.status === 403) {
        // Without provider.view Meta hides the provider either way; the create will say if it is wrong.
        this.log.warn(`GESTALT_LAMBDA_PROVIDER_ID ${providerId} could not be checked (HTTP 403: ${err.metaMessage}); grant the API key provider.view in org '${this.settings.org}' so a wrong id is found before deploying.`);
        return undefined;
      }
      return metaFailure(`read provider ${providerId}`, err, this.settings.org);
    }
    const type = String(read.value?.resource_type ?? '');
    if (type && !/::Lambda(::|$)/.test(type)) {
      return new RemoteError(`GESTALT_LAMBDA_PROVIDER_ID ${providerId} is a ${type.split('::').pop()} provider ('${read.value?.name ?? ''}'), not a Lambda provider; use the id of a Lambda provider (GET /${this.settings.org}/providers?type=Lambda).`);
    }
    return undefined;
  }

  private session(snapshot: Snapshot | undefined): MetaSession {
    return new MetaSession(this.meta, this.settings, this.job, this.retry, this.log, snapshot);
  }

  async probe(): Promise<string> {
    try {
      const org = await this.meta.org();
      return `Meta answered for org '${String(org.properties?.fqon ?? this.settings.org)}' with these credentials`;
    } catch (err) {
      throw this.orgFailure(err) ?? metaFailure(`read org '${this.settings.org}'`, err, this.settings.org);
    }
  }

  private async explainEnvironment(err: unknown, envId: string): Promise<never> {
    if (err instanceof MetaError && (err.status === 401 || err.status === 404)) {
      // An unknown org on an org-scoped route looks like bad credentials; GET /{org} tells them apart.
      const orgError = await this.meta.org().then(
        () => undefined,
        (e: unknown) => this.orgFailure(e),
      );
      if (orgError) throw orgError;
      if (err.status === 404) throw new RemoteError(`LAMBDA_ENVIRONMENT_ID ${envId} is not an environment in org '${this.settings.org}'; copy the environment's id from Gestalt.`);
    }
    throw metaFailure(`read environment ${envId}`, err, this.settings.org);
  }

  /**
   * GET /{org} answering 404: Meta's own "Org … not found" blames GESTALT_ORG; anything else (a router's
   * ROUTE_NOT_FOUND, a web page) means GESTALT_META_URL is not Meta's base URL, e.g. one with an extra path.
   */
  private orgFailure(err: unknown): RemoteError | undefined {
    if (!(err instanceof MetaError) || err.status !== 404) return undefined;
    if (/\borg\b.*not found/i.test(err.metaMessage) && !/ROUTE_NOT_FOUND/.test(err.metaMessage)) {
      return new RemoteError(`GESTALT_ORG '${this.settings.org}' is not an org in Gestalt Meta; use the org's FQON (e.g. root or acme.engineering).`);
    }
    const path = new URL(this.settings.url).pathname.replace(/\/+$/, '');
    return new RemoteError(
      `GESTALT_META_URL ${this.settings.url} does not answer as Gestalt Meta's base URL (GET ${this.settings.url}/${this.settings.org} → HTTP 404: ${err.metaMessage.slice(0, 80)}); set it to the URL under which /${this.settings.org} is your org${path ? `, probably without the path '${path}'` : ''}.`,
    );
  }
}

function groupBy(items: MetaResource[], key: (item: MetaResource) => string): Map<string, MetaResource[]> {
  const map = new Map<string, MetaResource[]>();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
}
