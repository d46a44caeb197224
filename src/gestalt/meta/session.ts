import type { JobContext, MetaSettings } from '../../config/types.js';
import { RemoteError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { isTransientStatus, NetworkError } from '../../net/http.js';
import { withRetry, type RetryPolicy } from '../../net/retry.js';
import type { DeploymentRecord, RecordedFunction } from '../../record/types.js';
import type { DeployRequest, DeployResult, GestaltSession, Placement, PlanResult, RemoveResult } from '../types.js';
import { MetaError, type MetaClient, type MetaResource } from './client.js';
import { metaFailure, providerNotFound } from './errors.js';
import { endpointPayload, endpointUrl, FAILED_STATE, lambdaPatch, lambdaPayload } from './lambda.js';

/** What `open` read once per run: the environment, its API, and what already exists there. */
export interface Snapshot {
  env: Placement;
  api?: MetaResource;
  lambdas: Map<string, MetaResource[]>; // by name; Meta allows duplicates
  endpointsByLambda: Map<string, MetaResource[]>;
}

/** One run's writes against Meta, decided from the snapshot: only what changes something is sent. */
export class MetaSession implements GestaltSession {
  constructor(
    private readonly meta: MetaClient,
    private readonly settings: MetaSettings,
    private readonly job: Pick<JobContext, 'ref' | 'sha'>,
    private readonly retry: RetryPolicy,
    private readonly log: Logger,
    private readonly snapshot: Snapshot | undefined,
  ) {}

  async plan(req: DeployRequest): Promise<PlanResult> {
    const snap = this.requireSnapshot();
    const existing = this.current(req.fn.name);
    const desired = lambdaPayload(req.fn, req.packageUrl, this.providerId(), this.job);
    if (!existing || existing.resource_state === FAILED_STATE) return { action: 'create', endpoint: 'create' };
    const { changed, changes } = lambdaPatch(existing, desired);
    return { action: changed.length ? 'update' : 'unchanged', changed, changes, endpoint: snap.endpointsByLambda.get(existing.id)?.length ? 'existing' : 'create' };
  }

  async deploy(req: DeployRequest): Promise<DeployResult> {
    const snap = this.requireSnapshot();
    const { fn } = req;
    const desired = lambdaPayload(fn, req.packageUrl, this.providerId(), this.job);
    let existing = this.current(fn.name);
    if (existing?.resource_state === FAILED_STATE) {
      // A create that failed in Meta's backend leaves the lambda stored as Failed: replace it, never duplicate.
      this.log.info(`  ${fn.name}: replacing a leftover lambda in state Failed (${existing.id})`);
      await this.deleteLambdaAndEndpoints(existing.id, `replace the Failed lambda '${fn.name}'`);
      existing = undefined;
    }
    const { lambda, action, changed } = existing ? await this.update(existing, desired) : { lambda: await this.createLambda(desired), action: 'created' as const, changed: undefined };
    const lambdaId = lambda.id;
    let endpoint = snap.endpointsByLambda.get(lambdaId)?.[0];
    const endpointAction: DeployResult['endpoint'] = endpoint ? 'existing' : 'created';
    if (!endpoint) endpoint = await this.createEndpoint(fn.name, lambdaId, fn.methods);
    return {
      action,
      changed,
      endpoint: endpointAction,
      id: lambdaId,
      endpointIds: [endpoint.id],
      url: endpointUrl(endpoint, snap.api?.name ?? '', this.settings.gatewayUrl),
    };
  }

  private async update(existing: MetaResource, desired: ReturnType<typeof lambdaPayload>): Promise<{ lambda: MetaResource; action: DeployResult['action']; changed: string[] }> {
    const { ops, changed } = lambdaPatch(existing, desired);
    if (ops.length === 0) return { lambda: existing, action: 'unchanged', changed };
    const path = `/environments/${this.requireSnapshot().env.environmentId}/lambdas/${existing.id}`;
    const lambda = await this.meta.patch(path, ops).catch((err: unknown) => Promise.reject(metaFailure(`update lambda '${desired.name}'`, err, this.settings.org)));
    return { lambda, action: 'updated', changed };
  }

  async remove(fn: RecordedFunction, record: DeploymentRecord): Promise<RemoveResult> {
    const envId = record.environmentId ?? this.snapshot?.env.environmentId;
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

  private async createEndpoint(name: string, lambdaId: string, methods: string[]): Promise<MetaResource> {
    const api = this.requireSnapshot().api as MetaResource;
    const what = `create the endpoint of '${name}' under API '${api.name}'`;
    try {
      return await this.createOnce(what, () => this.meta.create(`/apis/${api.id}/apiendpoints`, endpointPayload(name, lambdaId, methods)), async () => {
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
      this.retry,
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

  private providerMissing(err: MetaError): RemoteError {
    return providerNotFound(this.providerId(), this.settings.org, err.metaMessage);
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

