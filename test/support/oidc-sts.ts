// OIDC issuer (GitLab-shaped) + AWS STS stand-in, both real HTTP servers on 127.0.0.1.
// moto accepts any web-identity token, so this is where signature, iss, aud, exp and
// trust-policy conditions are checked the way IAM does.
//
// Retries as the SDK v3 (standard mode, maxAttempts 3) performs them against this server:
// Throttling and every 5xx are retried (3 attempts in total), and so is IDPCommunicationError
// (modelled as retryable in the STS model). InvalidIdentityToken, ExpiredTokenException,
// AccessDenied, ValidationError and SignatureDoesNotMatch are not retried.
// So throttle(2) followed by a normal call succeeds on the 3rd attempt; throttle(3) surfaces.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { compactVerify, createLocalJWKSet, decodeJwt, decodeProtectedHeader } from 'jose';
import type { JSONWebKeySet, JWTPayload } from 'jose';
import { closeServer, listen } from './loopback.js';
import { startOidcIssuer } from './oidc-issuer.js';
import type { GitLabClaims, MintOptions } from './oidc-issuer.js';
import { parseAuthorization, verifySigV4 } from './oidc-sigv4.js';

export type { GitLabClaims, MintOptions } from './oidc-issuer.js';

export interface TrustStatement {
  Effect: 'Allow';
  Principal: { Federated: string };
  Action: 'sts:AssumeRoleWithWebIdentity';
  Condition: { StringEquals?: Record<string, string | string[]>; StringLike?: Record<string, string | string[]> };
}

export interface RoleSpec {
  arn: string;
  trust?: { Statement: TrustStatement[] };
  trustedRoles?: string[];
  maxSessionDuration?: number;
}

export interface IssuedCredentials {
  accessKeyId: string; secretAccessKey: string; sessionToken: string; roleArn: string; expiration: Date;
  /** Extensions: which call issued them and the session name (part of the assumed-role ARN). */
  action: 'AssumeRoleWithWebIdentity' | 'AssumeRole';
  sessionName: string;
}

export interface OidcStsOptions {
  /** Read at request time: trust policies may be attached after start (they need `issuer`). */
  roles: RoleSpec[];
  issuerPath?: string;
  defaultAudience?: string;
  credentialsFor?: (roleArn: string) => { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Extension: the IAM OIDC provider's client-ID list. Default: defaultAudience plus every literal
   * `<host>:aud` value in the roles' trust policies. A token whose aud is in none of them gets
   * InvalidIdentityToken "Incorrect token audience" before any trust policy is looked at.
   */
  audiences?: string[];
}

export interface StsRequestLog {
  action: string; roleArn?: string; sessionName?: string; durationSeconds?: number; accessKeyId?: string;
  status: number; errorCode?: string; at: number;
}

type FailCode = 'IDPCommunicationError' | 'InternalFailure' | 'InvalidIdentityToken-jwks';

export interface OidcSts {
  issuer: string;
  stsUrl: string;
  /** Extension: `<host>:<port><issuerPath>`, the prefix of IAM condition keys and the provider ARN suffix. */
  issuerHostPath: string;
  /** Extension: the live role list (same array as opts.roles). */
  roles: RoleSpec[];
  issued: IssuedCredentials[];
  requests: StsRequestLog[];
  mintToken(overrides?: Partial<GitLabClaims>, opts?: MintOptions): Promise<string>;
  trustPolicyFor(subPattern: string, aud?: string): { Statement: TrustStatement[] };
  throttle(n: number): void;
  /** Extension: every STS answer is held back this many milliseconds (a distant STS endpoint). */
  answerDelayMs: number;
  failNext(n: number, code: FailCode, status?: number): void;
  setJwksReachable(ok: boolean): void;
  close(): Promise<void>;
}

const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ROLE_ARN_RE = /^arn:aws:iam::(\d{12}):role\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/;
const SESSION_NAME_RE = /^[\w+=,.@-]*$/;
const JWKS_UNREACHABLE = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";

class StsError extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) { super(message); }
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function randomUpper(n: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return Array.from(randomBytes(n), (b) => alphabet[b % 32]).join('');
}

// IAM glob: '*' any run of characters (including '/'), '?' exactly one; case-sensitive.
function globMatch(pattern: string, value: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[\\s\\S]*').replace(/\?/g, '[\\s\\S]');
  return new RegExp(`^${re}$`).test(value);
}

const asList = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

function parseRoleArn(arn: string): { account: string; name: string } | undefined {
  const m = ROLE_ARN_RE.exec(arn);
  return m ? { account: m[1] as string, name: m[3] as string } : undefined;
}

// AWS lists every violated constraint of the request shape in one ValidationError.
function validateCommon(p: URLSearchParams, extra: (errors: string[]) => void): void {
  const errors: string[] = [];
  const roleArn = p.get('RoleArn');
  if (roleArn === null) errors.push("Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
  else if (roleArn.length < 20) errors.push(`Value '${roleArn}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20`);
  const session = p.get('RoleSessionName');
  if (session === null) errors.push("Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null");
  else {
    if (!SESSION_NAME_RE.test(session)) errors.push(`Value '${session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`);
    if (session.length < 2) errors.push(`Value '${session}' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2`);
    if (session.length > 64) errors.push(`Value '${session}' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64`);
  }
  const d = p.get('DurationSeconds');
  if (d !== null) {
    const n = Number(d);
    if (!Number.isInteger(n)) errors.push(`Value '${d}' at 'durationSeconds' failed to satisfy constraint: Member must be an integer`);
    else if (n < 900) errors.push(`Value '${d}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900`);
    else if (n > 43200) errors.push(`Value '${d}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200`);
  }
  extra(errors);
  if (errors.length > 0) {
    throw new StsError('ValidationError', `${errors.length} validation error${errors.length > 1 ? 's' : ''} detected: ${errors.join('; ')}`);
  }
  // Length and pattern are separate checks in AWS: a long-enough garbage ARN gets this message.
  if (roleArn !== null && !parseRoleArn(roleArn)) throw new StsError('ValidationError', 'Request ARN is invalid');
}

function readBody(req: IncomingMessage, limit = 1 << 20): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) { reject(new StsError('RequestEntityTooLarge', 'Request body too large', 413)); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startOidcSts(opts: OidcStsOptions): Promise<OidcSts> {
  const idp = await startOidcIssuer({ ...(opts.issuerPath !== undefined ? { issuerPath: opts.issuerPath } : {}), ...(opts.defaultAudience !== undefined ? { defaultAudience: opts.defaultAudience } : {}) });
  const { issuer, hostPath } = idp;
  const roles = opts.roles;
  const issued: IssuedCredentials[] = [];
  const requests: StsRequestLog[] = [];
  const injected: { code: string; status: number; message: string }[] = [];
  const roleIds = new Map<string, string>();

  const providerArn = (account: string): string => `arn:aws:iam::${account}:oidc-provider/${hostPath}`;
  const findRole = (arn: string): RoleSpec | undefined => roles.find((r) => r.arn === arn);
  const roleId = (arn: string): string => {
    let id = roleIds.get(arn);
    if (!id) { id = `AROA${randomUpper(17)}`; roleIds.set(arn, id); }
    return id;
  };

  function providerAudiences(): Set<string> {
    if (opts.audiences) return new Set(opts.audiences);
    const auds = new Set<string>([idp.defaultAudience]);
    for (const role of roles) {
      for (const st of role.trust?.Statement ?? []) {
        for (const block of [st.Condition?.StringEquals, st.Condition?.StringLike]) {
          const v = block?.[`${hostPath}:aud`];
          if (v !== undefined) for (const a of asList(v)) if (!/[*?]/.test(a)) auds.add(a);
        }
      }
    }
    return auds;
  }

  function mintCredentials(roleArn: string, sessionName: string, durationSeconds: number, action: IssuedCredentials['action']): IssuedCredentials {
    const custom = opts.credentialsFor?.(roleArn);
    const creds: IssuedCredentials = {
      accessKeyId: custom?.accessKeyId ?? `ASIA${randomUpper(16)}`,
      secretAccessKey: custom?.secretAccessKey ?? randomBytes(30).toString('base64'),
      // Real session tokens are long base64 with '+', '/' and '=': keep those so header handling is exercised.
      sessionToken: custom?.sessionToken ?? `IQoJb3JpZ2luX2VjE${randomBytes(600).toString('base64')}`,
      roleArn,
      // Whole seconds, as the wire format carries no milliseconds.
      expiration: new Date(Math.floor(Date.now() / 1000) * 1000 + durationSeconds * 1000),
      action,
      sessionName,
    };
    issued.push(creds);
    return creds;
  }

  async function fetchJwks(): Promise<JSONWebKeySet> {
    // No caching: AWS caches keys, but tests toggle reachability and expect the next call to see it.
    const signal = AbortSignal.timeout(3000);
    const disc = await fetch(`${issuer}/.well-known/openid-configuration`, { signal });
    if (!disc.ok) throw new Error(`discovery ${disc.status}`);
    const { jwks_uri: jwksUri } = (await disc.json()) as { jwks_uri?: string };
    if (!jwksUri) throw new Error('no jwks_uri');
    const res = await fetch(jwksUri, { signal });
    if (!res.ok) throw new Error(`jwks ${res.status}`);
    return (await res.json()) as JSONWebKeySet;
  }

  function claimValue(payload: JWTPayload, claim: string, matchedAud: string): string | undefined {
    if (claim === 'aud') return matchedAud;
    const v = payload[claim];
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return undefined;
  }

  // Any Allow statement for this provider whose conditions all hold admits the caller.
  // IAM itself exposes only aud/sub/amr for generic OIDC providers; other GitLab claims are
  // evaluated here too (as the brief asks), so a policy relying on them is more permissive than AWS.
  function trustAdmits(role: RoleSpec, account: string, payload: JWTPayload, matchedAud: string): boolean {
    const principal = providerArn(account);
    return (role.trust?.Statement ?? []).some((st) => {
      if (st.Effect !== 'Allow') return false;
      const actions = asList(st.Action as string | string[]);
      if (!actions.includes('sts:AssumeRoleWithWebIdentity')) return false;
      if (!asList(st.Principal?.Federated as string | string[]).includes(principal)) return false;
      const cond = (st.Condition ?? {}) as Record<string, Record<string, string | string[]> | undefined>;
      for (const [op, block] of Object.entries(cond)) {
        // An operator this stand-in does not know must not silently pass.
        if (op !== 'StringEquals' && op !== 'StringLike') return false;
        for (const [key, expected] of Object.entries(block ?? {})) {
          if (!key.startsWith(`${hostPath}:`)) return false;
          const actual = claimValue(payload, key.slice(hostPath.length + 1), matchedAud);
          if (actual === undefined) return false;
          const ok = asList(expected).some((e) => (op === 'StringEquals' ? e === actual : globMatch(e, actual)));
          if (!ok) return false;
        }
      }
      return true;
    });
  }

  async function verifyToken(token: string): Promise<{ payload: JWTPayload; aud: string }> {
    const notJwt = new StsError('InvalidIdentityToken', 'The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)');
    let payload: JWTPayload;
    try { decodeProtectedHeader(token); payload = decodeJwt(token); } catch { throw notJwt; }
    if (payload.iss !== issuer) {
      throw new StsError('InvalidIdentityToken', `No OpenIDConnect provider found in your account for ${String(payload.iss)}`);
    }
    const auds = providerAudiences();
    const tokenAuds = payload.aud === undefined ? [] : asList(payload.aud);
    const aud = tokenAuds.find((a) => auds.has(a));
    if (aud === undefined) throw new StsError('InvalidIdentityToken', 'Incorrect token audience');
    let jwks: JSONWebKeySet;
    try { jwks = await fetchJwks(); } catch { throw new StsError('InvalidIdentityToken', JWKS_UNREACHABLE); }
    try {
      // A token without kid is tried against every key, like jose and AWS with a multi-key JWKS.
      await compactVerify(token, createLocalJWKSet(jwks), { algorithms: ['RS256'] });
    } catch {
      throw new StsError('InvalidIdentityToken', 'Token signature is invalid');
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.exp !== 'number' || payload.exp <= now) {
      throw new StsError('ExpiredTokenException', `Token expired: current date/time ${now} must be before the expiration date/time ${String(payload.exp)}`);
    }
    if (typeof payload.nbf === 'number' && payload.nbf > now) {
      throw new StsError('InvalidIdentityToken', `Token is not yet valid: current date/time ${now} must be after the not-before date/time ${payload.nbf}`);
    }
    return { payload, aud };
  }

  function effectiveDuration(p: URLSearchParams, role: RoleSpec, chained: boolean): number {
    const duration = p.get('DurationSeconds') === null ? 3600 : Number(p.get('DurationSeconds'));
    if (chained && duration > 3600) {
      throw new StsError('ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
    }
    if (duration > (role.maxSessionDuration ?? 3600)) {
      throw new StsError('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    }
    return duration;
  }

  function credentialsXml(c: IssuedCredentials): string {
    return `<Credentials><AccessKeyId>${esc(c.accessKeyId)}</AccessKeyId><SecretAccessKey>${esc(c.secretAccessKey)}</SecretAccessKey><SessionToken>${esc(c.sessionToken)}</SessionToken><Expiration>${isoSeconds(c.expiration)}</Expiration></Credentials>`;
  }

  function assumedRoleXml(roleArn: string, session: string): string {
    const r = parseRoleArn(roleArn) as { account: string; name: string };
    return `<AssumedRoleUser><AssumedRoleId>${roleId(roleArn)}:${esc(session)}</AssumedRoleId><Arn>arn:aws:sts::${r.account}:assumed-role/${esc(r.name)}/${esc(session)}</Arn></AssumedRoleUser>`;
  }

  const assumedRoleArn = (c: IssuedCredentials): string => {
    const r = parseRoleArn(c.roleArn) as { account: string; name: string };
    return `arn:aws:sts::${r.account}:assumed-role/${r.name}/${c.sessionName}`;
  };

  async function assumeRoleWithWebIdentity(p: URLSearchParams): Promise<string> {
    validateCommon(p, (errors) => {
      const t = p.get('WebIdentityToken');
      if (t === null) errors.push("Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null");
      else if (t.length < 4) errors.push(`Value '${t}' at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to 4`);
      else if (t.length > 20000) errors.push("Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000");
    });
    const roleArn = p.get('RoleArn') as string;
    const session = p.get('RoleSessionName') as string;
    const { payload, aud } = await verifyToken(p.get('WebIdentityToken') as string);
    const role = findRole(roleArn);
    const account = (parseRoleArn(roleArn) as { account: string }).account;
    // Unknown role and refused trust look the same to the caller, as in AWS.
    if (!role || !trustAdmits(role, account, payload, aud)) {
      throw new StsError('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity', 403);
    }
    const duration = effectiveDuration(p, role, false);
    const creds = mintCredentials(roleArn, session, duration, 'AssumeRoleWithWebIdentity');
    return `<AssumeRoleWithWebIdentityResponse xmlns="${XMLNS}"><AssumeRoleWithWebIdentityResult>${credentialsXml(creds)}<SubjectFromWebIdentityToken>${esc(String(payload.sub ?? ''))}</SubjectFromWebIdentityToken>${assumedRoleXml(roleArn, session)}<Provider>${esc(String(payload.iss))}</Provider><Audience>${esc(aud)}</Audience></AssumeRoleWithWebIdentityResult>`;
  }

  function authenticate(req: IncomingMessage, body: Buffer): IssuedCredentials {
    const auth = parseAuthorization(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined);
    if (!auth) throw new StsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
    const caller = issued.find((c) => c.accessKeyId === auth.accessKeyId);
    if (!caller) throw new StsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
    if (req.headers['x-amz-security-token'] !== caller.sessionToken) {
      throw new StsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
    }
    const failure = verifySigV4({ method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body, auth, secretAccessKey: caller.secretAccessKey, expectedService: 'sts' });
    if (failure) throw new StsError(failure.code, failure.message, failure.status);
    if (caller.expiration.getTime() <= Date.now()) throw new StsError('ExpiredToken', 'The security token included in the request is expired', 400);
    return caller;
  }

  function assumeRole(p: URLSearchParams, caller: IssuedCredentials): string {
    validateCommon(p, () => undefined);
    const roleArn = p.get('RoleArn') as string;
    const session = p.get('RoleSessionName') as string;
    const role = findRole(roleArn);
    if (!role || !(role.trustedRoles ?? []).includes(caller.roleArn)) {
      throw new StsError('AccessDenied', `User: ${assumedRoleArn(caller)} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, 403);
    }
    // Every caller here holds role credentials, so the role-chaining 1-hour cap always applies.
    const duration = effectiveDuration(p, role, true);
    const creds = mintCredentials(roleArn, session, duration, 'AssumeRole');
    return `<AssumeRoleResponse xmlns="${XMLNS}"><AssumeRoleResult>${credentialsXml(creds)}${assumedRoleXml(roleArn, session)}</AssumeRoleResult>`;
  }

  function getCallerIdentity(caller: IssuedCredentials): string {
    const r = parseRoleArn(caller.roleArn) as { account: string };
    return `<GetCallerIdentityResponse xmlns="${XMLNS}"><GetCallerIdentityResult><Arn>${esc(assumedRoleArn(caller))}</Arn><UserId>${roleId(caller.roleArn)}:${esc(caller.sessionName)}</UserId><Account>${r.account}</Account></GetCallerIdentityResult>`;
  }

  function send(res: ServerResponse, status: number, xml: string, requestId: string): void {
    res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml), 'x-amzn-requestid': requestId });
    res.end(xml);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const log: StsRequestLog = { action: 'unknown', status: 0, at: Date.now() };
    requests.push(log);
    try {
      const body = await readBody(req);
      if (sts.answerDelayMs > 0) await new Promise((r) => setTimeout(r, sts.answerDelayMs));
      const query = (req.url ?? '/').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?') + 1) : '';
      // AWS query protocol accepts parameters in the query string or a form body (the SDK uses the body).
      const p = new URLSearchParams(query);
      if (req.method === 'POST') for (const [k, v] of new URLSearchParams(body.toString('utf8'))) p.append(k, v);
      const action = p.get('Action') ?? 'unknown';
      log.action = action;
      if (p.get('RoleArn') !== null) log.roleArn = p.get('RoleArn') as string;
      if (p.get('RoleSessionName') !== null) log.sessionName = p.get('RoleSessionName') as string;
      if (p.get('DurationSeconds') !== null) log.durationSeconds = Number(p.get('DurationSeconds'));
      const auth = parseAuthorization(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined);
      if (auth) log.accessKeyId = auth.accessKeyId;

      // Injected faults come first, like a throttling front end or a flaky IdP in front of validation.
      const fault = injected.shift();
      if (fault) throw new StsError(fault.code, fault.message, fault.status);

      if (req.method !== 'POST' && req.method !== 'GET') throw new StsError('InvalidAction', `Could not find operation ${action} for version NO_VERSION_SPECIFIED`);
      const version = p.get('Version');
      let result: string;
      switch (action) {
        case 'AssumeRoleWithWebIdentity':
        case 'AssumeRole':
        case 'GetCallerIdentity':
          if (version !== '2011-06-15') throw new StsError('InvalidAction', `Could not find operation ${action} for version ${version ?? 'NO_VERSION_SPECIFIED'}`);
          break;
        default:
          throw new StsError('InvalidAction', `Could not find operation ${action} for version ${version ?? 'NO_VERSION_SPECIFIED'}`);
      }
      if (action === 'AssumeRoleWithWebIdentity') {
        // Unsigned by design; a signature on this call is ignored by AWS too.
        result = await assumeRoleWithWebIdentity(p);
      } else {
        const caller = authenticate(req, body);
        result = action === 'AssumeRole' ? assumeRole(p, caller) : getCallerIdentity(caller);
      }
      const tag = `${action}Response`;
      log.status = 200;
      send(res, 200, `${result}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${tag}>`, requestId);
    } catch (e) {
      const err = e instanceof StsError ? e : new StsError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 500);
      log.status = err.status;
      log.errorCode = err.code;
      const type = err.status >= 500 ? 'Receiver' : 'Sender';
      send(res, err.status, `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${esc(err.code)}</Code><Message>${esc(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`, requestId);
    }
  }

  const stsServer = createServer((req, res) => { void handle(req, res); });
  const stsPort = await listen(stsServer);

  function trustPolicyFor(subPattern: string, aud: string = idp.defaultAudience): { Statement: TrustStatement[] } {
    // Roles are usually all in one account; the provider ARN has to name the role's account.
    const account = roles.map((r) => parseRoleArn(r.arn)?.account).find((a) => a !== undefined) ?? '123456789012';
    const subKey = `${hostPath}:sub`;
    const audKey = `${hostPath}:aud`;
    const wildcard = /[*?]/.test(subPattern);
    return {
      Statement: [{
        Effect: 'Allow',
        Principal: { Federated: providerArn(account) },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: wildcard
          ? { StringEquals: { [audKey]: aud }, StringLike: { [subKey]: subPattern } }
          : { StringEquals: { [audKey]: aud, [subKey]: subPattern } },
      }],
    };
  }

  const sts: OidcSts = {
    answerDelayMs: 0,
    issuer,
    stsUrl: `http://127.0.0.1:${stsPort}`,
    issuerHostPath: hostPath,
    roles,
    issued,
    requests,
    mintToken: (overrides, mo) => idp.mintToken(overrides, mo),
    trustPolicyFor,
    throttle(n: number) {
      for (let i = 0; i < n; i++) injected.push({ code: 'Throttling', status: 400, message: 'Rate exceeded' });
    },
    failNext(n: number, code: FailCode, status?: number) {
      const fault = code === 'IDPCommunicationError'
        ? { code, status: status ?? 400, message: 'The request could not be fulfilled because the identity provider (IDP) that was asked to verify the incoming identity token could not be reached. Retry the request.' }
        : code === 'InternalFailure'
          ? { code, status: status ?? 500, message: 'The request processing has failed because of an unknown error, exception or failure.' }
          : { code: 'InvalidIdentityToken', status: status ?? 400, message: JWKS_UNREACHABLE };
      for (let i = 0; i < n; i++) injected.push({ ...fault });
    },
    setJwksReachable: (ok: boolean) => idp.setJwksReachable(ok),
    async close() {
      await Promise.all([closeServer(stsServer), idp.close()]);
    },
  };
  return sts;
}
