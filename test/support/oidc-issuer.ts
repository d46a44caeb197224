// GitLab-shaped OIDC issuer on 127.0.0.1: discovery document, JWKS, and ID-token minting.
// Used by oidc-sts.ts; the STS stand-in fetches the JWKS over HTTP like AWS does, so
// setJwksReachable() really changes what STS sees.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { closeServer, listen } from './loopback.js';

/** All claims GitLab documents for CI/CD ID tokens (`id_tokens:`). */
export interface GitLabClaims {
  iss: string; sub: string; aud: string | string[]; exp: number; nbf: number; iat: number; jti: string;
  namespace_id: string; namespace_path: string; project_id: string; project_path: string; user_id: string; user_login: string; user_email: string; user_access_level?: string;
  pipeline_id: string; pipeline_source: string; job_id: string; ref: string; ref_type: 'branch' | 'tag'; ref_path: string; ref_protected: 'true' | 'false';
  environment?: string; environment_protected?: 'true' | 'false'; deployment_tier?: string; environment_action?: string;
  runner_id: number; runner_environment: 'gitlab-hosted' | 'self-hosted'; sha: string; ci_config_ref_uri: string; ci_config_sha: string; project_visibility: string;
  [k: string]: unknown;
}

export interface MintOptions {
  /** Lifetime from `iat`; negative gives an already expired token. Default 3600 (GitLab: the job timeout). */
  expiresInSeconds?: number;
  /** 'foreign-key': a key that is not in the JWKS but carries the issuer's `kid`, i.e. a forged token. */
  signWith?: 'issuer' | 'foreign-key';
  omitKid?: boolean;
}

export interface OidcIssuer {
  issuer: string;
  /** `<host>[:port]<path>`: how IAM names the provider (ARN suffix, condition-key prefix). */
  hostPath: string;
  jwksUri: string;
  defaultAudience: string;
  mintToken(overrides?: Partial<GitLabClaims>, opts?: MintOptions): Promise<string>;
  setJwksReachable(ok: boolean): void;
  close(): Promise<void>;
}

function normalizeIssuerPath(p: string | undefined): string {
  if (!p) return '';
  const withSlash = p.startsWith('/') ? p : `/${p}`;
  return withSlash.replace(/\/+$/, '');
}

interface SigningKey { privateKey: CryptoKey; publicJwk: JWK; kid: string }

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const publicJwk = await exportJWK(publicKey);
  // GitLab uses the RFC 7638 thumbprint as kid.
  const kid = await calculateJwkThumbprint(publicJwk);
  return { privateKey, publicJwk: { ...publicJwk, kid, use: 'sig', alg: 'RS256' }, kid };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startOidcIssuer(opts: { issuerPath?: string; defaultAudience?: string } = {}): Promise<OidcIssuer> {
  const issuerPath = normalizeIssuerPath(opts.issuerPath);
  const [key, foreign] = await Promise.all([newKey(), newKey()]);
  let jwksReachable = true;
  let issuer = '';
  let jwksUri = '';

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
    if (path === `${issuerPath}/.well-known/openid-configuration`) {
      // Subset of what gitlab.com publishes; AWS reads issuer and jwks_uri.
      return sendJson(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/oauth/authorize`,
        token_endpoint: `${issuer}/oauth/token`,
        userinfo_endpoint: `${issuer}/oauth/userinfo`,
        jwks_uri: jwksUri,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid'],
        claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'project_path', 'ref', 'ref_type'],
      });
    }
    if (path === `${issuerPath}/oauth/discovery/keys`) {
      if (!jwksReachable) return sendJson(res, 503, { error: 'service unavailable' });
      return sendJson(res, 200, { keys: [key.publicJwk] });
    }
    sendJson(res, 404, { error: '404 Not Found' });
  });
  const port = await listen(server);
  const hostPath = `127.0.0.1:${port}${issuerPath}`;
  issuer = `http://${hostPath}`;
  jwksUri = `${issuer}/oauth/discovery/keys`;
  const defaultAudience = opts.defaultAudience ?? issuer;
  const host = `127.0.0.1:${port}`;

  async function mintToken(overrides: Partial<GitLabClaims> = {}, mo: MintOptions = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const iat = overrides.iat ?? now;
    const projectPath = overrides.project_path ?? 'acme/lambdas';
    const ref = overrides.ref ?? 'main';
    const refType = overrides.ref_type ?? 'branch';
    const refPath = overrides.ref_path ?? (refType === 'tag' ? `refs/tags/${ref}` : `refs/heads/${ref}`);
    const sha = overrides.sha ?? randomBytes(20).toString('hex');
    const namespacePath = projectPath.includes('/') ? projectPath.slice(0, projectPath.lastIndexOf('/')) : projectPath;
    // sub, ref_path and ci_config_ref_uri follow project_path/ref/ref_type so a test only overrides what it means.
    const claims: Record<string, unknown> = {
      iss: issuer,
      sub: `project_path:${projectPath}:ref_type:${refType}:ref:${ref}`,
      aud: defaultAudience,
      iat,
      // GitLab backdates nbf slightly to tolerate clock skew.
      nbf: iat - 5,
      exp: iat + (mo.expiresInSeconds ?? 3600),
      jti: randomUUID(),
      namespace_id: '42',
      namespace_path: namespacePath,
      project_id: '1001',
      project_path: projectPath,
      user_id: '7',
      user_login: 'deployer',
      user_email: 'deployer@example.com',
      user_access_level: 'maintainer',
      pipeline_id: '5001',
      pipeline_source: 'push',
      job_id: '90001',
      ref,
      ref_type: refType,
      ref_path: refPath,
      ref_protected: 'true',
      runner_id: 12,
      runner_environment: 'self-hosted',
      sha,
      ci_config_ref_uri: `${host}${issuerPath}/${projectPath}//.gitlab-ci.yml@${refPath}`,
      ci_config_sha: sha,
      project_visibility: 'private',
    };
    // An explicit `undefined` override removes the claim (e.g. a token without exp).
    for (const [k, v] of Object.entries(overrides)) {
      if (v === undefined) delete claims[k];
      else claims[k] = v;
    }
    const signer = mo.signWith === 'foreign-key' ? foreign : key;
    const header = mo.omitKid ? { alg: 'RS256', typ: 'JWT' } : { alg: 'RS256', typ: 'JWT', kid: key.kid };
    return new SignJWT(claims).setProtectedHeader(header).sign(signer.privateKey);
  }

  return {
    issuer,
    hostPath,
    jwksUri,
    defaultAudience,
    mintToken,
    setJwksReachable(ok: boolean) { jwksReachable = ok; },
    close: () => closeServer(server),
  };
}
