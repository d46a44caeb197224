import type { JobContext, MetaSettings } from '../../config/types.js';
import { RemoteError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { HttpClient } from '../../net/http.js';
import type { RetryPolicy } from '../../net/retry.js';
import type { GestaltSession, GestaltTarget, Placement, Purpose } from '../types.js';
import { MetaClient, MetaError, type MetaResource } from './client.js';
import { metaFailure } from './errors.js';
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
    return this.session(snapshot);
  }

  private session(snapshot: Snapshot | undefined): MetaSession {
    return new MetaSession(this.meta, this.settings, this.job, this.retry, this.log, snapshot);
  }

  async probe(): Promise<string> {
    try {
      const org = await this.meta.org();
      return `Meta answered for org '${String(org.properties?.fqon ?? this.settings.org)}' with these credentials`;
    } catch (err) {
      throw metaFailure(`read org '${this.settings.org}'`, err, this.settings.org);
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

}


function groupBy(items: MetaResource[], key: (item: MetaResource) => string): Map<string, MetaResource[]> {
  const map = new Map<string, MetaResource[]>();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
}
