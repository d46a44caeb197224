import { randomUUID } from 'node:crypto';
import { resourceDigest } from './digest.js';
import { basename } from 'node:path';
import type { FunctionSpec, PackagedFunction } from '../../artifacts/functions.js';
import type { JobContext, MetaSettings } from '../../config/types.js';
import { RemoteError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { cancellation } from '../../net/cancel.js';
import { isTransientStatus, NetworkError } from '../../net/http.js';
import { withRetry, type RetryPolicy } from '../../net/retry.js';
import type { RecordedFunction } from '../../record/types.js';
import { NothingCreated, type Claim, type DeployRequest, type DeployResult, type FieldChange, type GestaltSession, type Placement, type PlanResult, type RemoveResult } from '../types.js';
import { MetaError, type MetaClient, type MetaResource } from './client.js';
import { metaFailure, providerNotFound } from './errors.js';
import { endpointPatch } from './endpoint.js';
import { endpointPayload, endpointUrl, FAILED_STATE, lambdaPatch, lambdaPayload } from './lambda.js';
import { notOwned, ownershipMark, type Owner } from './ownership.js';
import { resolveAllMounts, type SecretMountPayload } from './secrets.js';

/** What `open` read once per run: the environment, its API, and what already exists there. */
export interface Snapshot {
  env: Placement;
  api?: MetaResource;
  lambdas: Map<string, MetaResource[]>; // by name; Meta allows duplicates
  endpointsByLambda: Map<string, MetaResource[]>;
  /** The Lambda provider, when open could read it. */
  provider?: MetaResource;
}

type Job = Pick<JobContext, 'ref' | 'sha' | 'projectPath' | 'environment'>;

/** One run's writes against Meta, decided from the snapshot: only what changes something is sent. */
export class MetaSession implements GestaltSession {
  private readonly owner: Owner;
  private readonly claims = new Map<string, Claim & { existing?: MetaResource }>();
  private readonly removed = new Set<string>();
  /** Secret mounts resolved by preflight, by function name. */
  private secretMounts = new Map<string, SecretMountPayload[]>();

  constructor(
    private readonly meta: MetaClient,
    private readonly settings: MetaSettings,
    private readonly job: Job,
    private readonly retry: RetryPolicy,
    private readonly log: Logger,
    private readonly snapshot: Snapshot | undefined,
  ) {
    this.owner = { projectPath: job.projectPath, environment: job.environment };
  }

  /**
   * The lambda this environment already has under that name (proven by its mark), or fresh ids for a create.
   * A lambda of that name that is not provably ours is never touched: the function is refused instead.
   */
  claim(fn: { name: string }): Claim {
    const known = this.claims.get(fn.name);
    if (known) return known;
    const all = this.snapshot?.lambdas.get(fn.name) ?? [];
    const owned = all.filter((l) => notOwned(l, this.owner) === undefined);
    const foreign = all.find((l) => notOwned(l, this.owner) !== undefined);
    const active = owned.find((l) => l.resource_state !== FAILED_STATE);
    let claim: Claim & { existing?: MetaResource };
    if (active) {
      const owned = this.ownedEndpoints(active.id);
      const endpoint = owned.find((e) => e.resource_state !== FAILED_STATE) ?? owned[0] ?? this.snapshot?.endpointsByLambda.get(active.id)?.[0];
      claim = { id: active.id, endpointIds: [endpoint?.id ?? randomUUID()], existing: active };
    } else if (foreign) {
      claim = { refused: `a lambda named '${fn.name}' (${foreign.id}) already exists in environment ${this.snapshot?.env.environmentId} and ${notOwned(foreign, this.owner)}; it was left alone. Remove or rename it in Gestalt, or change GESTALT_NAME_TEMPLATE` };
    } else {
      claim = { id: randomUUID(), endpointIds: [randomUUID()] };
    }
    this.claims.set(fn.name, claim);
    return claim;
  }

  /**
   * The secrets the functions mount must exist in the environment and be ones Meta accepts for these lambdas;
   * a mistake is a configuration error naming the file:line, found before any upload or write.
   */
  async preflight(functions: FunctionSpec[]): Promise<void> {
    const envId = this.snapshot?.env.environmentId;
    if (!envId) return;
    this.secretMounts = await resolveAllMounts(this.meta, this.settings.org, envId, this.providerId(), functions, this.snapshot?.provider);
  }

  async plan(req: Omit<DeployRequest, 'claim'>): Promise<PlanResult> {
    this.requireSnapshot();
    const claim = this.claim(req.fn) as Claim & { existing?: MetaResource };
    if (claim.refused) return { action: 'refuse', endpoint: 'unknown', refused: claim.refused };
    const existing = claim.existing;
    const desired = this.desired(req.fn, req.packageUrl);
    if (!existing) return { action: 'create', endpoint: 'create' };
    const { changed, changes } = lambdaPatch(existing, desired);
    const { endpoint, changes: endpointChanges } = this.endpointPlan(req.fn, existing.id);
    return { action: changed.length ? 'update' : 'unchanged', changed, changes: [...changes, ...endpointChanges], endpoint };
  }

  async deploy(req: DeployRequest): Promise<DeployResult> {
    const snap = this.requireSnapshot();
    const { fn, claim } = req;
    if (claim.refused) throw new RemoteError(`Refused to deploy '${fn.name}': ${claim.refused}.`);
    const existing = (this.claims.get(fn.name) as { existing?: MetaResource } | undefined)?.existing;
    const lambdaId = claim.id as string;
    const endpointId = claim.endpointIds?.[0] as string;
    // Owned Failed leftovers of this name (a create that failed in Meta's backend) are replaced, never duplicated.
    for (const leftover of (snap.lambdas.get(fn.name) ?? []).filter((l) => l.resource_state === FAILED_STATE && l.id !== lambdaId && notOwned(l, this.owner) === undefined)) {
      this.log.info(`  ${fn.name}: replacing a leftover lambda in state Failed (${leftover.id})`);
      await this.removeOwned(leftover.id, fn.name, `replace the Failed lambda '${fn.name}'`);
    }
    const desired = { id: lambdaId, ...this.desired(fn, req.packageUrl), variables: ownershipMark(this.owner) };
    let created: { lambda: MetaResource; action: DeployResult['action']; changed?: string[]; changes?: FieldChange[] };
    try {
      created = existing ? await this.update(existing, desired) : { lambda: await this.createLambda(desired), action: 'created' as const };
    } catch (err) {
      // A create that failed may still have landed; only when Meta has nothing under the chosen id is that certain.
      if (!existing && err instanceof Error && (await this.lookup(`/environments/${snap.env.environmentId}/lambdas/${lambdaId}`).catch(() => 'unknown')) === undefined) throw new NothingCreated(err);
      throw err;
    }
    const { lambda, action, changed } = created;
    const synced = await this.syncEndpoint(fn, lambda.id, endpointId);
    const changes = [...(created.changes ?? []), ...synced.changes];
    return {
      action,
      changed,
      ...(changes.length > 0 ? { changes } : {}),
      endpoint: synced.action,
      id: lambda.id,
      endpointIds: [synced.endpoint.id],
      url: endpointUrl(synced.endpoint, snap.api?.name ?? '', this.settings.gatewayUrl),
    };
  }

  private desired(fn: PackagedFunction, packageUrl: string): ReturnType<typeof lambdaPayload> {
    const mounts = this.secretMounts.get(fn.name);
    // A programming error, not the user's: the run must call preflight between open and the first write.
    if (fn.secrets?.length && !mounts) throw new Error(`the secrets of '${fn.name}' were not checked (preflight did not run)`);
    return lambdaPayload(fn, packageUrl, this.providerId(), this.job, mounts);
  }

  /** The endpoint in front of a lambda: the Active one, and whether it is this environment's to change. */
  private endpointOf(lambdaId: string): { active?: MetaResource; failed: MetaResource[] } {
    const all = this.snapshot?.endpointsByLambda.get(lambdaId) ?? [];
    const active = all.filter((e) => e.resource_state !== FAILED_STATE);
    return { active: active.find((e) => notOwned(e, this.owner) === undefined) ?? active[0], failed: all.filter((e) => e.resource_state === FAILED_STATE) };
  }

  private endpointPlan(fn: PackagedFunction, lambdaId: string): { endpoint: PlanResult['endpoint']; changes: FieldChange[] } {
    const { active, failed } = this.endpointOf(lambdaId);
    if (!active) return { endpoint: failed.length > 0 ? 'replace' : 'create', changes: [] };
    if (notOwned(active, this.owner)) return { endpoint: 'existing', changes: [] };
    const { changes } = endpointPatch(active, fn.methods, fn.endpoint ?? {});
    return { endpoint: changes.length > 0 ? 'update' : 'existing', changes };
  }

  /**
   * The lambda's endpoint brought up to date: an Active one of ours is PATCHed with what differs (nothing when
   * nothing does); a Failed one never reached the gateway, so Meta cannot update it: ours are deleted and the
   * endpoint created anew. An endpoint without this environment's mark is left as it is.
   */
  private async syncEndpoint(fn: PackagedFunction, lambdaId: string, endpointId: string): Promise<{ endpoint: MetaResource; action: DeployResult['endpoint']; changes: FieldChange[] }> {
    const { active, failed } = this.endpointOf(lambdaId);
    if (active) {
      const foreign = notOwned(active, this.owner);
      if (foreign) {
        this.log.info(`  ${fn.name}: endpoint ${active.id} is not updated: ${foreign}`);
        return { endpoint: active, action: 'existing', changes: [] };
      }
      const { ops, changes } = endpointPatch(active, fn.methods, fn.endpoint ?? {});
      if (ops.length === 0) return { endpoint: active, action: 'existing', changes };
      cancellation.throwIfRequested();
      const endpoint = await this.meta.patch(`/apiendpoints/${active.id}`, ops).catch((err: unknown) => Promise.reject(metaFailure(`update the endpoint of '${fn.name}'`, err, this.settings.org)));
      return { endpoint, action: 'updated', changes };
    }
    const ours = failed.filter((e) => notOwned(e, this.owner) === undefined);
    for (const e of ours) {
      this.log.info(`  ${fn.name}: replacing its endpoint in state Failed (${e.id})`);
      cancellation.throwIfRequested();
      await this.meta.delete(`/apiendpoints/${e.id}`).catch((err: unknown) => Promise.reject(metaFailure(`delete the Failed endpoint of '${fn.name}'`, err, this.settings.org)));
    }
    // The claimed id may be a Failed endpoint that is not ours, and so still there.
    const id = failed.some((e) => e.id === endpointId && !ours.includes(e)) ? randomUUID() : endpointId;
    const endpoint = await this.createEndpoint(fn.name, lambdaId, id, fn.methods, fn.endpoint);
    return { endpoint, action: ours.length > 0 ? 'replaced' : 'created', changes: [] };
  }

  /**
   * Removes one recorded function, only after proving it is this environment's: the lambda must be in the
   * job's environment, carry the recorded name and this project's and environment's mark; so must every
   * endpoint in front of it. Anything else is refused with a sentence, and nothing of it is deleted.
   */
  async remove(fn: RecordedFunction): Promise<RemoveResult> {
    this.requireSnapshot();
    if (!fn.id) throw new RemoteError(`Refused to remove '${fn.name}': the record gives no lambda id, so it cannot be proven to be this environment's; remove it in Gestalt by hand.`);
    const lambda = this.find(fn.id);
    if (lambda) {
      if (lambda.name !== fn.name) throw new RemoteError(`Refused to remove lambda ${fn.id}: it is named '${lambda.name}', not '${fn.name}' as the record says; the record does not describe it.`);
      const why = notOwned(lambda, this.owner);
      if (why) throw new RemoteError(`Refused to remove lambda '${fn.name}' (${fn.id}): ${why}.`);
    }
    const endpoints = await this.removeOwned(fn.id, fn.name, `remove lambda '${fn.name}'`, lambda !== undefined);
    return lambda || endpoints > 0 ? { outcome: 'removed', endpoints } : { outcome: 'absent', endpoints: 0 };
  }

  /** Without a record: this environment's functions, found only by their ownership marks. */
  async discover(): Promise<RecordedFunction[]> {
    const snap = this.requireSnapshot();
    const now = new Date().toISOString();
    return [...snap.lambdas.values()].flat().filter((l) => notOwned(l, this.owner) === undefined).map((l) => ({
      name: l.name,
      file: basename(l.name) || 'package',
      runtime: String(l.properties?.runtime ?? ''),
      handler: String(l.properties?.handler ?? ''),
      packageKey: '',
      sha256: '',
      id: l.id,
      deployedAt: now,
      state: 'deployed' as const,
    }));
  }

  observe(name: string): { id: string; digest: string }[] {
    const lambdas = this.snapshot?.lambdas.get(name) ?? [];
    return lambdas
      .map((l) => ({ id: l.id, digest: resourceDigest({ lambda: l, endpoints: [...(this.snapshot?.endpointsByLambda.get(l.id) ?? [])].sort((a, b) => a.id.localeCompare(b.id)) }) }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  mayExist(id: string): boolean {
    return !this.removed.has(id) && this.find(id) !== undefined;
  }

  private find(id: string): MetaResource | undefined {
    for (const list of this.snapshot?.lambdas.values() ?? []) {
      const found = list.find((l) => l.id === id);
      if (found) return found;
    }
    return undefined;
  }

  private ownedEndpoints(lambdaId: string): MetaResource[] {
    return (this.snapshot?.endpointsByLambda.get(lambdaId) ?? []).filter((e) => notOwned(e, this.owner) === undefined);
  }

  private async update(existing: MetaResource, desired: ReturnType<typeof lambdaPayload>): Promise<{ lambda: MetaResource; action: DeployResult['action']; changed: string[]; changes: FieldChange[] }> {
    const { ops, changed, changes } = lambdaPatch(existing, desired);
    if (ops.length === 0) return { lambda: existing, action: 'unchanged', changed, changes };
    const path = `/environments/${this.requireSnapshot().env.environmentId}/lambdas/${existing.id}`;
    cancellation.throwIfRequested();
    const lambda = await this.meta.patch(path, ops).catch((err: unknown) => Promise.reject(metaFailure(`update lambda '${desired.name}'`, err, this.settings.org)));
    return { lambda, action: 'updated', changed, changes };
  }

  private requireSnapshot(): Snapshot {
    if (!this.snapshot) throw new RemoteError('LAMBDA_ENVIRONMENT_ID is needed to find the functions in Gestalt.');
    return this.snapshot;
  }

  private providerId(): string {
    return this.settings.providerId ?? '';
  }

  private async createLambda(desired: ReturnType<typeof lambdaPayload> & { id: string }): Promise<MetaResource> {
    const envPath = `/environments/${this.requireSnapshot().env.environmentId}/lambdas`;
    try {
      return await this.createOnce(`create lambda '${desired.name}'`, desired.id, () => this.meta.create(envPath, desired), async () => {
        const stored = await this.lookup(`${envPath}/${desired.id}`);
        if (stored?.resource_state !== FAILED_STATE) return stored;
        // Our own create, stored but Failed in Meta's backend: remove it so the same id can be created again.
        await this.removeOwned(stored.id, desired.name, `clean up the Failed lambda '${desired.name}'`);
        return undefined;
      });
    } catch (err) {
      if (err instanceof MetaError && err.status === 404 && /provider/i.test(err.metaMessage)) throw this.providerMissing(err);
      if (err instanceof MetaError && (err.status === 404 || err.status === 422)) throw await this.explainCreate(err, desired.name);
      throw metaFailure(`create lambda '${desired.name}'`, err, this.settings.org);
    }
  }

  private async createEndpoint(name: string, lambdaId: string, endpointId: string, methods: string[], options: PackagedFunction['endpoint'] = {}): Promise<MetaResource> {
    const api = this.requireSnapshot().api as MetaResource;
    const what = `create the endpoint of '${name}' under API '${api.name}'`;
    const payload = { id: endpointId, ...endpointPayload(name, lambdaId, methods, options), variables: ownershipMark(this.owner) };
    try {
      return await this.createOnce(what, endpointId, () => this.meta.create(`/apis/${api.id}/apiendpoints`, payload), () => this.lookup(`/apiendpoints/${endpointId}`));
    } catch (err) {
      throw metaFailure(what, err, this.settings.org);
    }
  }

  /** GET by id: undefined when Meta says it does not exist (404). */
  private async lookup(path: string): Promise<MetaResource | undefined> {
    try {
      return await this.meta.get(path);
    } catch (err) {
      if (err instanceof MetaError && err.status === 404) return undefined;
      throw err;
    }
  }

  /**
   * A create is never repeated blindly: it carries an id chosen before the first try, and after any answer
   * that leaves its outcome unknown (network error, timeout, 429, 5xx, or a 409 because a late copy already
   * landed) the next attempt first looks that id up, and only creates again when Meta has nothing under it.
   */
  private createOnce(what: string, id: string, create: () => Promise<MetaResource>, lookup: () => Promise<MetaResource | undefined>): Promise<MetaResource> {
    let ambiguous = false;
    return withRetry(
      async (attempt) => {
        if (ambiguous || attempt > 1) {
          const stored = await lookup();
          if (stored) {
            this.log.info(`  ${what}: the create's answer was lost but Meta stored it (${stored.id}); using it`);
            return stored;
          }
        }
        cancellation.throwIfRequested();
        try {
          return await create();
        } catch (err) {
          if (err instanceof MetaError && err.status === 409 && !ambiguous) {
            // Either a policy refusal or our own earlier try landing late: the id tells them apart.
            ambiguous = true;
            const stored = await lookup();
            if (stored) return stored;
          }
          throw err;
        }
      },
      (err) => (err instanceof NetworkError || (err instanceof MetaError && isTransientStatus(err.status)) ? 'retry' : 'fail'),
      this.retry,
      { onRetry: ({ attempt, delayMs, error }) => this.log.info(`  ${what}: ${error instanceof Error ? error.message : String(error)}; checking Meta for id ${id}, retry ${attempt} in ${delayMs} ms`) },
    );
  }

  /**
   * Endpoints first (Meta does not cascade), then the lambda. Every endpoint in front of the lambda must be
   * ours, or nothing is deleted. Returns how many endpoints were removed.
   */
  private async removeOwned(lambdaId: string, name: string, what: string, lambdaExists = true): Promise<number> {
    const envId = this.requireSnapshot().env.environmentId;
    try {
      const endpoints = await this.meta.list('/apiendpoints', { implementation_type: 'lambda', implementation_id: lambdaId });
      for (const e of endpoints) {
        const why = notOwned(e, this.owner);
        if (why) throw new RemoteError(`Refused to remove '${name}': its endpoint '${e.name}' (${e.id}) ${why.replace(/^it /, '')}; remove that endpoint in Gestalt first if it should go.`);
      }
      for (const e of endpoints) {
        cancellation.throwIfRequested();
        await this.meta.delete(`/apiendpoints/${e.id}`);
      }
      if (lambdaExists) {
        cancellation.throwIfRequested();
        await this.meta.delete(`/environments/${envId}/lambdas/${lambdaId}`);
      }
      this.removed.add(lambdaId);
      return endpoints.length;
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
