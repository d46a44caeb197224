import { basicAuthValue } from '../../net/auth.js';
import type { MetaSettings } from '../../config/types.js';
import { RemoteError } from '../../errors.js';
import { redactor } from '../../log/redact.js';
import { type HttpClient, type HttpRequest, type HttpResponse } from '../../net/http.js';

/** A Meta answer outside 2xx, with Meta's own {code, message}. */
export class MetaError extends Error {
  constructor(
    readonly call: string,
    readonly status: number,
    readonly metaMessage: string,
  ) {
    super(`${call} → HTTP ${status}: ${metaMessage}`);
    this.name = 'MetaError';
  }
}

export interface MetaResource {
  id: string;
  name: string;
  description?: string;
  resource_state?: string;
  properties?: Record<string, unknown>;
  [key: string]: unknown;
}

export type PatchOp = { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown };

/** Thin typed access to Meta: auth, JSON, Meta's error bodies. Paths are relative to the org (FQON). */
export class MetaClient {
  private readonly base: string;
  private readonly auth: string;

  constructor(
    readonly settings: MetaSettings,
    private readonly http: HttpClient,
  ) {
    this.base = `${settings.url}/${settings.org}`;
    this.auth = settings.auth.kind === 'bearer' ? `Bearer ${settings.auth.token}` : basicAuthValue(settings.auth.key, settings.auth.secret);
  }

  async org(): Promise<MetaResource> {
    return this.json(await this.send({ method: 'GET', url: this.base }), 'GET /{org}');
  }

  async get<T = MetaResource>(path: string, query: Record<string, string> = {}): Promise<T> {
    const qs = new URLSearchParams(query).toString();
    return this.json(await this.send({ method: 'GET', url: `${this.base}${path}${qs ? `?${qs}` : ''}` }), `GET ${path}`);
  }

  /** Lists with `expand=true`: full resources instead of links. */
  async list(path: string, filters: Record<string, string> = {}): Promise<MetaResource[]> {
    const out = await this.get<unknown>(path, { expand: 'true', ...filters });
    if (!Array.isArray(out)) throw new RemoteError(`Gestalt Meta answered GET ${path} with something that is not a list; check GESTALT_META_URL points at Meta.`);
    return out as MetaResource[];
  }

  /** Never retried here: a create whose answer was lost may have happened (the target looks before trying again). */
  async create(path: string, body: object): Promise<MetaResource> {
    return this.json(await this.send({ method: 'POST', url: `${this.base}${path}`, json: body, retry: false }), `POST ${path}`);
  }

  async patch(path: string, ops: PatchOp[]): Promise<MetaResource> {
    return this.json(await this.send({ method: 'PATCH', url: `${this.base}${path}`, json: ops }), `PATCH ${path}`);
  }

  /** 'absent' for 404: what stop wants to hear about something already gone. */
  async delete(path: string): Promise<'deleted' | 'absent'> {
    const res = await this.send({ method: 'DELETE', url: `${this.base}${path}` });
    if (res.status === 404) return 'absent';
    if (res.status >= 200 && res.status < 300) return 'deleted';
    throw new MetaError(`DELETE ${path}`, res.status, metaMessage(res));
  }

  private send(req: HttpRequest): Promise<HttpResponse> {
    return this.http.request({ ...req, headers: { authorization: this.auth, ...req.headers } });
  }

  private json<T>(res: HttpResponse, call: string): T {
    if (res.status < 200 || res.status >= 300) throw new MetaError(call, res.status, metaMessage(res));
    try {
      return JSON.parse(res.text) as T;
    } catch {
      throw new RemoteError(`Gestalt Meta answered ${call} with HTTP ${res.status} but no JSON; check GESTALT_META_URL points at Meta, not its UI.`);
    }
  }
}

/** Meta's own message, redacted before it is cut short (a cut secret no longer matches the secret). */
export function metaMessage(res: HttpResponse): string {
  try {
    const body = JSON.parse(res.text) as { message?: unknown };
    if (typeof body.message === 'string') return redactor.quote(body.message, 300);
  } catch {
    // Not JSON: Meta's router answers some errors in plain text.
  }
  return redactor.quote(res.text, 200) || '(empty answer)';
}
