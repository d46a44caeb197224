// The local stack a pipeline runs against: S3 (moto or fauxqs), Gestalt Meta (emulator), the original deployment
// lambda (gateway fake), AWS STS with an OIDC issuer (stand-in), a loopback "API gateway" answering the deployed
// endpoints' URLs, and the template published over HTTP. One call starts it all on 127.0.0.1; close() stops it all.
//
// Used by the pipeline tests and, bundled on the fly by esbuild, by scripts/demo.mjs.
import { createServer } from 'node:http';
import { startGatewayFake } from './gateway-fake.js';
import type { GatewayFake } from './gateway-fake.js';
import { startMetaEmulator } from './meta-emulator.js';
import type { MetaEmulator } from './meta-emulator.js';
import { startOidcSts } from './oidc-sts.js';
import type { GitLabClaims, OidcSts, RoleSpec } from './oidc-sts.js';
import { startS3 } from './s3-server.js';
import type { S3Kind, S3Server } from './s3-server.js';
import { startTemplateServer } from './template-server.js';
import type { TemplateServer } from './template-server.js';
import { serveLoopback } from './loopback.js';

/** What the examples name in their YAML; the stack is seeded so the examples run unchanged. */
export const EXAMPLE = {
  serverUrl: 'https://gitlab.example.com',
  environmentId: '6f1d3c2a-8b4e-4f0a-9c7d-2e5b8a1f4c30',
  api: 'lambdas',
  /** The role the single-account examples assume with the job's ID token. */
  deployRole: 'arn:aws:iam::123456789012:role/gitlab-gestalt-deploy',
  /** The production examples' role: it trusts ID tokens of the default branch only. */
  productionRole: 'arn:aws:iam::123456789012:role/gitlab-gestalt-production',
  /** Cross-account example: the hub role (ID token) and the target account's role it chains to. */
  hubRole: 'arn:aws:iam::111111111111:role/gitlab-oidc-hub',
  targetRole: 'arn:aws:iam::222222222222:role/gestalt-deployer',
  /** The audience the cross-account example's hub identity provider expects (its id_token_audience input). */
  hubAudience: 'sts.amazonaws.com',
  /** The gateway example's API, as the original integration's docs named it. */
  gatewayApi: 'dev1',
} as const;

export const BUCKET = 'gestalt-packages';
export const GF_API_KEY = 'a2f0c0de-test-key';
// Random-looking, as real secrets are: the secret scan flags any 8 characters of them, and a run like 0123456789
// would match account ids in ordinary output.
export const GF_API_SECRET = 'sEcReT-gf-Api-q7Xw2mK9vLp4';
export const AWS_STATIC_KEY_ID = 'AKIAEXAMPLESTATIC01';
export const AWS_STATIC_SECRET = 'static/Secret+Key8fJ2qW7zR4tY1uE5hEXAMPLE';

export interface EndpointHit {
  method: string;
  path: string;
}

export interface EndpointAnswer {
  status: number;
  body: string;
}

export interface EndpointServer {
  /** Base of every deployed endpoint's public URL (stands in for the Kong gateway in front of Gestalt). */
  url: string;
  hits: EndpointHit[];
  /**
   * What the function behind an endpoint answers, when a test decides (e.g. a broken deployment's 500); unset, or
   * returning undefined: 200 with {"ok":true,"path":...}.
   */
  respond: ((hit: EndpointHit) => EndpointAnswer | undefined) | undefined;
  close(): Promise<void>;
}

export interface LocalStack {
  s3: S3Server;
  bucket: string;
  meta: MetaEmulator;
  providerId: string;
  gateway: GatewayFake;
  sts: OidcSts;
  endpoints: EndpointServer;
  templates: TemplateServer;
  /**
   * Project/group CI/CD variables for a project deploying through this stack: what an administrator would set
   * in Settings > CI/CD > Variables. The examples' YAML carries the rest (LAMBDA_*, AWS_ROLE_ARN, ...).
   */
  settings(mode: 'meta' | 'gateway', aws: 'oidc' | 'static'): Record<string, string>;
  /** An ID token as GitLab would mint it for a job of acme/<project> on `ref`, with the instance URL as audience. */
  idToken(claims: { projectPath: string; ref: string; environment?: string } & Partial<GitLabClaims>): Promise<string>;
  close(): Promise<void>;
}

export interface StackOptions {
  s3?: S3Kind;
}

async function startEndpointServer(): Promise<EndpointServer> {
  const hits: EndpointHit[] = [];
  const endpoints: EndpointServer = { url: '', hits, respond: undefined, close: () => Promise.resolve() };
  const server = createServer((req, res) => {
    const hit = { method: req.method ?? '', path: new URL(req.url ?? '/', 'http://127.0.0.1').pathname };
    hits.push(hit);
    const { status, body } = endpoints.respond?.(hit) ?? { status: 200, body: JSON.stringify({ ok: true, path: hit.path }) };
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const { url, close } = await serveLoopback(server);
  endpoints.url = url;
  endpoints.close = close;
  return endpoints;
}

export async function startStack(opts: StackOptions = {}): Promise<LocalStack> {
  const started: { close(): Promise<void> }[] = [];
  try {
    const endpoints = await startEndpointServer();
    started.push(endpoints);
    const templates = await startTemplateServer();
    started.push(templates);
    const s3 = await startS3(opts.s3 ? { prefer: opts.s3 } : {});
    started.push(s3);
    await s3.createBucket(BUCKET);

    const meta = await startMetaEmulator({ apiKeys: { [GF_API_KEY]: GF_API_SECRET }, gatewayUrl: endpoints.url });
    started.push(meta);
    const envId = meta.seedEnvironment({ id: EXAMPLE.environmentId, name: 'lambdas-dev' });
    meta.seedApi(envId, { name: EXAMPLE.api });
    const providerId = meta.seedLambdaProvider();

    const gateway = await startGatewayFake({ gatewayUrl: endpoints.url });
    started.push(gateway);
    gateway.knownApis.add(EXAMPLE.gatewayApi);
    gateway.knownApis.add(EXAMPLE.api);
    gateway.requireAuth(GF_API_KEY, GF_API_SECRET);

    // Trust policies name the issuer, which exists only once the stand-in runs: attach them afterwards.
    const roles: RoleSpec[] = [
      { arn: EXAMPLE.deployRole },
      { arn: EXAMPLE.productionRole },
      { arn: EXAMPLE.hubRole },
      { arn: EXAMPLE.targetRole, trustedRoles: [EXAMPLE.hubRole] },
    ];
    const sts = await startOidcSts({ roles, defaultAudience: EXAMPLE.serverUrl });
    started.push(sts);
    // Any branch of any acme project, audience = the instance URL (the template's default id_token_audience).
    // The provider ARN in a trust policy names the role's own account.
    const trust = (role: string, sub: string, aud: string) => {
      const policy = sts.trustPolicyFor(sub, aud);
      const account = role.split(':')[4] as string;
      for (const st of policy.Statement) st.Principal.Federated = st.Principal.Federated.replace(/::\d{12}:/, `::${account}:`);
      return policy;
    };
    const anyBranch = 'project_path:acme/*:ref_type:branch:ref:*';
    (roles[0] as RoleSpec).trust = trust(EXAMPLE.deployRole, anyBranch, EXAMPLE.serverUrl);
    (roles[1] as RoleSpec).trust = trust(EXAMPLE.productionRole, 'project_path:acme/*:ref_type:branch:ref:main', EXAMPLE.serverUrl);
    (roles[2] as RoleSpec).trust = trust(EXAMPLE.hubRole, anyBranch, EXAMPLE.hubAudience);

    const settings = (mode: 'meta' | 'gateway', aws: 'oidc' | 'static'): Record<string, string> => {
      const common: Record<string, string> = {
        S3_BUCKET_NAME: BUCKET,
        AWS_REGION: s3.region,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        GF_API_KEY,
        GF_API_SECRET,
      };
      const credentials: Record<string, string> =
        aws === 'oidc' ? { AWS_ENDPOINT_URL_STS: sts.stsUrl } : { AWS_ACCESS_KEY_ID: AWS_STATIC_KEY_ID, AWS_SECRET_ACCESS_KEY: AWS_STATIC_SECRET };
      const target: Record<string, string> =
        mode === 'meta'
          ? { GESTALT_META_URL: meta.url, GESTALT_ORG: meta.fqon, GESTALT_LAMBDA_PROVIDER_ID: providerId, GESTALT_GATEWAY_URL: endpoints.url }
          : { CI_URL: gateway.url };
      return { ...common, ...credentials, ...target };
    };

    const idToken: LocalStack['idToken'] = ({ projectPath, ref, environment, ...claims }) =>
      sts.mintToken({ project_path: projectPath, ref, aud: EXAMPLE.serverUrl, ...(environment ? { environment } : {}), ...claims });

    return {
      s3,
      bucket: BUCKET,
      meta,
      providerId,
      gateway,
      sts,
      endpoints,
      templates,
      settings,
      idToken,
      async close() {
        await Promise.allSettled(started.reverse().map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.allSettled(started.reverse().map((s) => s.close()));
    throw err;
  }
}
