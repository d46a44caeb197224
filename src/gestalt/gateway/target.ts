import { basicAuthValue } from '../../net/auth.js';
import type { GatewaySettings, JobContext } from '../../config/types.js';
import { RemoteError } from '../../errors.js';
import { CancelledError, cancellation } from '../../net/cancel.js';
import type { Logger } from '../../log/logger.js';
import { NetworkError, ResponseTooLarge, type HttpClient, type HttpResponse } from '../../net/http.js';
import type { DeploymentRecord, RecordedFunction } from '../../record/types.js';
import { NothingCreated, type Claim, type DeployRequest, type DeployResult, type FieldChange, type GestaltSession, type GestaltTarget, type Placement, type PlanResult, type RemoveResult } from '../types.js';
import { explainLog, parseDeployAnswer, parseStopAnswer } from './answer.js';

/** The original protocol: one JSON POST per package to the deployment lambda at CI_URL. */
export class GatewayTarget implements GestaltTarget {
  readonly mode = 'gateway' as const;
  readonly label: string;

  constructor(
    private readonly settings: GatewaySettings,
    private readonly job: JobContext,
    private readonly http: HttpClient,
    private readonly log: Logger,
  ) {
    this.label = `deployment lambda at ${settings.url}`;
  }

  /** Nothing to look up: the lambda cannot be asked without acting. */
  async open(placement: Placement | undefined): Promise<GestaltSession> {
    return new GatewaySession(this.settings, this.job, placement, this.http, this.log);
  }

  async probe(): Promise<string> {
    // HEAD never runs a deploy; any HTTP answer proves the URL is reachable from the runner.
    const res = await this.http.request({ method: 'HEAD', url: this.settings.url, headers: authHeader(this.settings), retry: false });
    return `CI_URL answered HTTP ${res.status}`;
  }
}

class GatewaySession implements GestaltSession {
  constructor(
    private readonly settings: GatewaySettings,
    private readonly job: JobContext,
    private readonly placement: Placement | undefined,
    private readonly http: HttpClient,
    private readonly log: Logger,
  ) {}

  /** The deployment lambda names and finds functions itself (by name): there is nothing to choose up front. */
  claim(): Claim {
    return {};
  }

  /** Gateway mode cannot look anything up; what the record names may exist. */
  mayExist(): boolean {
    return true;
  }

  async plan(req: Omit<DeployRequest, 'claim'>): Promise<PlanResult> {
    // The lambda cannot be asked without acting; the record says whether this environment has it, and with what.
    const previous = req.previous;
    if (!previous) return { action: 'create', endpoint: 'unknown' };
    const changes: FieldChange[] = [];
    if (previous.sha256 && previous.sha256 !== req.fn.sha256) changes.push({ field: 'package', from: `sha256 ${previous.sha256.slice(0, 12)}…`, to: `sha256 ${req.fn.sha256.slice(0, 12)}…` });
    if (previous.runtime !== req.fn.runtime) changes.push({ field: 'runtime', from: previous.runtime || '(unset)', to: req.fn.runtime });
    return changes.length > 0 ? { action: 'update', endpoint: 'unknown', changed: changes.map((c) => c.field), changes } : { action: 'update', endpoint: 'unknown' };
  }

  async deploy(req: DeployRequest): Promise<DeployResult> {
    // Cancelled before this function's POST: nothing was sent for it.
    if (cancellation.signal) throw new NothingCreated(new CancelledError(cancellation.signal));
    const job = this.job;
    const payload = {
      file: req.fn.file,
      runtime: req.fn.runtime,
      api: this.placement?.api ?? '',
      env_id: this.placement?.environmentId ?? '',
      project: job.projectName,
      project_path: job.projectPath,
      git_env: job.environment,
      lambda_url: req.packageUrl,
      git_ref: job.ref,
      git_sha: job.sha,
    };
    // The original lambda looks a function up by name and patches it, so a repeated deploy POST does not
    // duplicate it, and retrying after 429/5xx or a refused connection is safe. A POST that timed out may
    // still be running there, and a second one racing it could create a second lambda: no retry then.
    const res = await this.post(payload, req.fn.name, { retryTimeouts: false });
    const answer = parseDeployAnswer(res.text);
    if (!answer.ok) throw new RemoteError(`The deployment lambda (CI_URL) failed for ${req.fn.file}: it ${answer.reason}.`);
    const url = answer.value.external_url;
    const usable = url && /^https?:\/\/[^/]/.test(url) && !url.startsWith('undefined') ? url : undefined;
    if (url && !usable) this.log.warn(`The deployment lambda returned external_url '${url}' for ${req.fn.file}; set API_GATEWAY_URL on the deployment lambda to get a usable URL.`);
    return {
      action: /created/.test(answer.value.lambda) ? 'created' : 'updated',
      endpoint: answer.value.api_endpoint === 'created' ? 'created' : 'existing',
      url: usable,
    };
  }

  async remove(fn: RecordedFunction, record: DeploymentRecord): Promise<RemoveResult> {
    const payload = {
      action: 'stop',
      file: fn.file,
      runtime: fn.runtime,
      api: record.api ?? '',
      env_id: record.environmentId ?? '',
      project: record.project.name,
      project_path: record.project.path,
      git_env: record.environment,
      git_ref: record.ref,
      git_sha: record.sha,
    };
    const res = await this.post(payload, fn.name);
    const answer = parseStopAnswer(res.text);
    if (!answer.ok) throw new RemoteError(`The deployment lambda (CI_URL) failed to stop ${fn.file}: it ${answer.reason}.`);
    return { outcome: answer.value.removed ? 'removed' : 'absent', endpoints: answer.value.endpoints };
  }

  async discover(): Promise<RecordedFunction[]> {
    return [];
  }

  private async post(payload: object, name: string, options: { retryTimeouts: boolean } = { retryTimeouts: true }): Promise<HttpResponse> {
    let res: HttpResponse;
    cancellation.throwIfRequested();
    try {
      res = await this.http.request({ method: 'POST', url: this.settings.url, json: payload, headers: authHeader(this.settings), retryTimeouts: options.retryTimeouts });
    } catch (err) {
      if (err instanceof NetworkError && err.timedOut && !options.retryTimeouts) {
        throw new RemoteError(`The deployment lambda (CI_URL) gave no answer for ${name} in time (${err.message}); it may still be deploying it, so it was not asked again. Rerun the job: a repeated deploy patches the function by name.`, { cause: err });
      }
      if (err instanceof NetworkError) throw new RemoteError(`Could not reach the deployment lambda at CI_URL for ${name}: ${err.message}; check CI_URL and that the runner can reach it.`, { cause: err });
      if (err instanceof ResponseTooLarge) throw new RemoteError(`The deployment lambda (CI_URL) failed for ${name}: ${err.message}`, { cause: err });
      throw err;
    }
    if (res.status === 401 || res.status === 403) {
      throw new RemoteError(`The deployment lambda (CI_URL) answered HTTP ${res.status} for ${name}: ${this.settings.auth ? 'GF_API_KEY/GF_API_SECRET were refused; check the key pair' : 'it needs credentials; set GF_API_KEY and GF_API_SECRET'}.`);
    }
    if (res.status === 404) throw new RemoteError(`The deployment lambda (CI_URL) answered HTTP 404 for ${name}: check CI_URL is the lambda's endpoint URL.`);
    if (res.status < 200 || res.status >= 300) {
      throw new RemoteError(`The deployment lambda (CI_URL) answered HTTP ${res.status} for ${name}${res.status >= 500 || res.status === 429 ? ' after retries' : ''}: ${explainLog(res.text)}.`);
    }
    return res;
  }
}

function authHeader(settings: GatewaySettings): Record<string, string> {
  return settings.auth ? { authorization: basicAuthValue(settings.auth.key, settings.auth.secret) } : {};
}
