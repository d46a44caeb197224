import { basicAuthValue } from '../net/auth.js';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, type Problem } from '../errors.js';
import { redactor } from '../log/redact.js';
import { DEFAULT_RETRY } from '../net/retry.js';
import { Checker, debugEnabled, FQON_RE, HTTP_METHODS, isHttpMethod, ROLE_ARN_RE, splitList } from './checks.js';
import type { AwsSettings, BasicAuth, Command, Config, JobContext, LifecycleSettings, PackageAccess, StorageSettings, TargetSettings } from './types.js';

export const DEFAULT_NAME_TEMPLATE = '{project}/{ref}/{file}';
/**
 * GESTALT_CONCURRENCY's default, as the contract documents it: uploads in flight, and Gestalt writes in flight
 * (each its own gate). `npm run bench` sweeps 4, 8, 16 and 32 against it.
 */
export const DEFAULT_CONCURRENCY = 8;
export const NAME_TOKENS = ['project', 'project_path', 'ref', 'file', 'basename', 'env'] as const;
export const PACKAGE_ACCESS: readonly PackageAccess[] = ['private', 'public', 'presigned'];
const SESSION_NAME_RE = /^[\w+=,.@-]{2,64}$/;
const DEFAULT_FUNCTIONS_FILE = 'gestalt-deploy.yml';

/**
 * Reads and validates every variable the command needs, collecting all problems before throwing, so
 * nothing remote is touched by a job that is misconfigured in any way.
 */
export function loadConfig(command: Command, env: Record<string, string | undefined>, cwd: string): Config {
  const { config, problems } = readConfig(command, env, cwd);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Like loadConfig, but hands back the problems with a best-effort config (doctor reports and goes on). */
export function readConfig(command: Command, env: Record<string, string | undefined>, cwd: string): { config: Config; problems: Problem[] } {
  const c = new Checker(env);
  const writes = command === 'deploy' || command === 'plan';
  // Commands that create or change functions from a history entry instead of the checkout.
  const converges = writes || command === 'rollback' || command === 'promote';
  registerSecrets(env);

  const job = readJob(c, command, cwd);
  const target = readTarget(c, command, converges);
  const aws = readAws(c, job);
  const storage = readStorage(c, job);

  const functionsFile = readFunctionsFile(c, job.projectDir, writes);
  const listed = splitList(c.get('LAMBDA_ARTIFACTS'));
  if (writes && listed.length === 0 && !functionsFile) {
    c.problem('LAMBDA_ARTIFACTS', `is not set; list the function packages to deploy as glob patterns relative to the project dir, e.g. "dist/*.zip" (or describe them in ${DEFAULT_FUNCTIONS_FILE}).`);
  }
  // A pattern found wrong here is not matched as well, so its one cause gives one sentence.
  const artifacts = listed.filter((pattern) => {
    if (isAbsolute(pattern) || pattern.split('/').includes('..')) {
      c.problem('LAMBDA_ARTIFACTS', `pattern '${pattern}' reaches outside the project dir; use a path relative to ${job.projectDir} without '..'.`);
      return false;
    }
    if (hasTopLevelComma(pattern)) {
      c.problem('LAMBDA_ARTIFACTS', `'${pattern}' holds a comma; patterns are separated by spaces or newlines, not commas: write "${pattern.split(',').filter(Boolean).join(' ')}" (braces keep alternatives inside one pattern: dist/{a,b}.zip).`);
      return false;
    }
    return true;
  });

  const api = c.get('LAMBDA_API');
  const environmentId = c.uuid('LAMBDA_ENVIRONMENT_ID', c.get('LAMBDA_ENVIRONMENT_ID'), 'Gestalt environment id');
  if ((writes || command === 'promote') && api === undefined) c.problem('LAMBDA_API', 'is not set; name the Gestalt API the endpoints go under (its name is part of the public URL).');
  if ((writes || command === 'promote') && c.get('LAMBDA_ENVIRONMENT_ID') === undefined) c.problem('LAMBDA_ENVIRONMENT_ID', 'is not set; give the UUID of the Gestalt environment to deploy into.');

  const defaults = {
    runtime: c.get('LAMBDA_RUNTIME'),
    // Unset stays unset: a single-file package defaults to its file name, an archive has no default (run/validate.ts).
    handler: c.get('LAMBDA_HANDLER'),
    memory: c.int('LAMBDA_MEMORY', 512, 32, 65536, 'the function memory in MB'),
    cpus: c.number('LAMBDA_CPUS', 0.1, 0.01, 64, 'the function CPU share'),
    timeout: c.int('LAMBDA_TIMEOUT', 30, 1, 86400, 'the function timeout in seconds'),
    methods: readMethods(c),
    public: c.bool('LAMBDA_PUBLIC', true),
    env: {},
  };

  const nameTemplate = c.get('GESTALT_NAME_TEMPLATE') ?? DEFAULT_NAME_TEMPLATE;
  for (const token of nameTemplate.match(/\{[^}]*\}/g) ?? []) {
    if (!(NAME_TOKENS as readonly string[]).includes(token.slice(1, -1))) {
      c.problem('GESTALT_NAME_TEMPLATE', `unknown placeholder ${token}; use ${NAME_TOKENS.map((t) => `{${t}}`).join(', ')}.`);
    }
  }
  if (target.mode === 'gateway') {
    // The deployment lambda builds names and payloads itself; settings it ignores must not look like they work.
    if (nameTemplate !== DEFAULT_NAME_TEMPLATE) c.problem('GESTALT_NAME_TEMPLATE', 'has no effect in gateway mode (the deployment lambda names functions project/ref/file); remove it or use meta mode (GESTALT_META_URL).');
    for (const name of ['LAMBDA_HANDLER', 'LAMBDA_MEMORY', 'LAMBDA_CPUS', 'LAMBDA_TIMEOUT', 'LAMBDA_METHODS']) {
      if (c.get(name) !== undefined) c.problem(name, 'has no effect in gateway mode (the deployment lambda sets it); remove it or use meta mode (GESTALT_META_URL).');
    }
  }

  const debug = debugEnabled(env);
  c.bool('GESTALT_DEBUG', false); // reports a value that is not a boolean
  const config: Config = {
    command,
    job,
    target,
    aws,
    storage,
    artifacts,
    api,
    environmentId,
    defaults,
    nameTemplate,
    environmentUrlFunction: c.get('GESTALT_ENVIRONMENT_URL_FUNCTION'),
    functionsFile,
    concurrency: c.int('GESTALT_CONCURRENCY', DEFAULT_CONCURRENCY, 1, 64, 'the number of parallel uploads and API calls'),
    debug,
    http: {
      timeoutMs: c.int('GESTALT_HTTP_TIMEOUT', 30, 1, 600, 'the time in seconds each try of a remote call may take, answer included') * 1000,
      retry: { ...DEFAULT_RETRY, attempts: c.int('GESTALT_RETRY_ATTEMPTS', DEFAULT_RETRY.attempts, 1, 10, 'the number of tries per call') },
    },
    outputDir: cwd,
    lifecycle: readLifecycle(c, command, job),
    warnings: c.warnings,
  };
  return { config, problems: c.problems };
}

/** A comma outside {…}: a list written with commas, not a brace alternative. */
function hasTopLevelComma(pattern: string): boolean {
  let depth = 0;
  for (const ch of pattern) {
    if (ch === '{') depth++;
    else if (ch === '}') depth = Math.max(0, depth - 1);
    else if (ch === ',' && depth === 0) return true;
  }
  return false;
}

function registerSecrets(env: Record<string, string | undefined>): void {
  // Both forms: the raw value (as it may be echoed) and the trimmed one the runner actually uses.
  for (const name of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'GF_API_SECRET', 'GESTALT_ID_TOKEN', 'GESTALT_TOKEN']) {
    redactor.add(env[name]);
    redactor.add(env[name]?.trim());
  }
  const key = env.GF_API_KEY?.trim();
  const secret = env.GF_API_SECRET?.trim();
  if (key && secret) redactor.add(basicAuthValue(key, secret).slice('Basic '.length));
}

function readJob(c: Checker, command: Command, cwd: string): JobContext {
  const need = ['deploy', 'plan', 'rollback', 'promote'].includes(command);
  const req = (name: string) => (need ? c.required(name, 'GitLab sets it in every job; outside GitLab set it by hand.') : (c.get(name) ?? ''));
  const projectName = req('CI_PROJECT_NAME');
  const projectPath = req('CI_PROJECT_PATH');
  const ref = req('CI_COMMIT_REF_SLUG');
  const sha = req('CI_COMMIT_SHA');
  const environment = c.get('CI_ENVIRONMENT_NAME') ?? '';
  if (environment === '' && command !== 'doctor' && command !== 'prune') {
    c.problem('CI_ENVIRONMENT_NAME', `is not set; give the job an environment (environment: name: review/$CI_COMMIT_REF_SLUG) so ${command} knows which deployment record to use.`);
  }
  const projectDir = resolve(cwd, c.get('CI_PROJECT_DIR') ?? '.');
  if ((command === 'deploy' || command === 'plan') && !existsSync(projectDir)) c.problem('CI_PROJECT_DIR', `'${projectDir}' does not exist; run the job from the checkout or set CI_PROJECT_DIR.`);
  return {
    projectName,
    projectPath,
    projectId: c.get('CI_PROJECT_ID') ?? '',
    projectDir,
    ref,
    sha,
    environment,
    environmentSlug: c.get('CI_ENVIRONMENT_SLUG') ?? '',
    pipelineId: c.get('CI_PIPELINE_ID') ?? '',
    jobId: c.get('CI_JOB_ID') ?? '',
    jobUrl: c.get('CI_JOB_URL') ?? '',
    serverUrl: c.get('CI_SERVER_URL') ?? '',
  };
}

function readTarget(c: Checker, command: Command, converges: boolean): TargetSettings {
  const gatewayUrl = c.get('CI_URL');
  const metaUrl = c.get('GESTALT_META_URL');
  const key = c.get('GF_API_KEY');
  const secret = c.get('GF_API_SECRET');
  const token = c.get('GESTALT_TOKEN');
  if (key !== undefined && secret === undefined) c.problem('GF_API_SECRET', 'is not set but GF_API_KEY is; add the API key secret as a masked CI/CD variable.');
  if (secret !== undefined && key === undefined) c.problem('GF_API_KEY', 'is not set but GF_API_SECRET is; add the API key id as a CI/CD variable.');
  const basic: BasicAuth | undefined = key !== undefined && secret !== undefined ? { kind: 'basic', key, secret } : undefined;

  if (gatewayUrl !== undefined && metaUrl !== undefined) {
    c.problem('CI_URL', 'and GESTALT_META_URL are both set; set CI_URL for gateway mode (the deployment lambda) or GESTALT_META_URL for direct Meta mode, not both.');
  }
  if (gatewayUrl === undefined && metaUrl === undefined) {
    // A prune that stops no environment only touches S3.
    const needsGestalt = command !== 'doctor' && !(command === 'prune' && c.get('GESTALT_PRUNE_ENVIRONMENTS') === undefined);
    if (needsGestalt) c.problem('GESTALT_META_URL', 'is not set (nor CI_URL); set GESTALT_META_URL to call Gestalt Meta directly, or CI_URL for the deployment lambda (gateway mode).');
    return { mode: 'gateway', url: '' };
  }
  if (metaUrl === undefined) {
    if (token !== undefined) c.problem('GESTALT_TOKEN', 'is only used in meta mode; in gateway mode authenticate with GF_API_KEY and GF_API_SECRET.');
    const url = basic ? c.credentialedUrl('CI_URL', gatewayUrl, 'GF_API_KEY/GF_API_SECRET') : c.url('CI_URL', gatewayUrl);
    return { mode: 'gateway', url: url ?? '', auth: basic };
  }

  const org = c.get('GESTALT_ORG');
  if (org === undefined) c.problem('GESTALT_ORG', "is not set; give the org's FQON, e.g. root or acme.engineering.");
  else if (!FQON_RE.test(org)) c.problem('GESTALT_ORG', `'${org}' is not an FQON; use the dot-separated org path, e.g. acme.engineering.`);
  if (secret?.includes(':')) c.problem('GF_API_SECRET', "contains ':', which Basic auth cannot carry; create a new API key pair or use GESTALT_TOKEN.");
  if (token !== undefined && basic !== undefined) c.problem('GESTALT_TOKEN', 'and GF_API_KEY/GF_API_SECRET are both set; keep one way to authenticate to Meta.');
  if (token === undefined && basic === undefined) c.problem('GF_API_KEY', 'is not set (nor GESTALT_TOKEN); meta mode needs GF_API_KEY + GF_API_SECRET or a bearer GESTALT_TOKEN.');
  const providerId = c.uuid('GESTALT_LAMBDA_PROVIDER_ID', c.get('GESTALT_LAMBDA_PROVIDER_ID'), 'Lambda provider id');
  if (converges && c.get('GESTALT_LAMBDA_PROVIDER_ID') === undefined) {
    c.problem('GESTALT_LAMBDA_PROVIDER_ID', 'is not set; give the UUID of the Gestalt Lambda provider new functions run on.');
  }
  return {
    mode: 'meta',
    url: c.credentialedUrl('GESTALT_META_URL', metaUrl, token !== undefined ? 'GESTALT_TOKEN' : 'GF_API_KEY/GF_API_SECRET') ?? '',
    org: org ?? '',
    providerId,
    gatewayUrl: c.url('GESTALT_GATEWAY_URL', c.get('GESTALT_GATEWAY_URL')),
    auth: token !== undefined ? { kind: 'bearer', token } : (basic ?? { kind: 'basic', key: '', secret: '' }),
  };
}

function readAws(c: Checker, job: JobContext): AwsSettings {
  const region = c.get('AWS_REGION') ?? c.get('AWS_DEFAULT_REGION');
  if (region === undefined) c.problem('AWS_REGION', 'is not set; set the bucket\'s region, e.g. us-east-1 (AWS_DEFAULT_REGION also works).');
  else if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) c.problem('AWS_REGION', `'${region}' is not an AWS region name; use e.g. us-east-1.`);

  const roleArn = c.get('AWS_ROLE_ARN');
  if (roleArn !== undefined && !ROLE_ARN_RE.test(roleArn)) c.problem('AWS_ROLE_ARN', `'${roleArn}' is not an IAM role ARN; use arn:aws:iam::<12-digit account>:role/<name>.`);
  const idToken = c.get('GESTALT_ID_TOKEN');
  if (roleArn !== undefined && idToken === undefined) {
    c.problem('GESTALT_ID_TOKEN', 'is empty but AWS_ROLE_ARN is set; add `id_tokens: { GESTALT_ID_TOKEN: { aud: <your audience> } }` to the job (the template does this for you).');
  }
  const roleChain = splitList(c.get('AWS_ROLE_CHAIN'));
  for (const arn of roleChain) if (!ROLE_ARN_RE.test(arn)) c.problem('AWS_ROLE_CHAIN', `'${arn}' is not an IAM role ARN; list role ARNs separated by spaces or newlines.`);
  if (roleChain.length > 0 && roleArn === undefined && c.get('AWS_ACCESS_KEY_ID') === undefined) {
    c.problem('AWS_ROLE_CHAIN', 'needs starting credentials; set AWS_ROLE_ARN (with the ID token) or static AWS keys.');
  }

  const defaultSession = `gitlab-${job.projectId || 'local'}-${job.pipelineId || '0'}-${job.jobId || '0'}`.slice(0, 64);
  const sessionName = c.get('AWS_ROLE_SESSION_NAME') ?? defaultSession;
  if (!SESSION_NAME_RE.test(sessionName)) c.problem('AWS_ROLE_SESSION_NAME', `'${sessionName}' is not a valid session name; use 2–64 characters from letters, digits and +=,.@_-.`);

  const accessKeyId = c.get('AWS_ACCESS_KEY_ID');
  const secretAccessKey = c.get('AWS_SECRET_ACCESS_KEY');
  if (accessKeyId !== undefined && secretAccessKey === undefined) c.problem('AWS_SECRET_ACCESS_KEY', 'is not set but AWS_ACCESS_KEY_ID is; add the secret as a masked variable, or remove both and use AWS_ROLE_ARN.');
  if (secretAccessKey !== undefined && accessKeyId === undefined) c.problem('AWS_ACCESS_KEY_ID', 'is not set but AWS_SECRET_ACCESS_KEY is; add the key id, or remove both and use AWS_ROLE_ARN.');

  const endpointCheck = (name: string) => c.url(name, c.get(name));
  const common = endpointCheck('AWS_ENDPOINT_URL');
  return {
    region: region ?? '',
    s3Endpoint: endpointCheck('AWS_ENDPOINT_URL_S3') ?? common,
    stsEndpoint: endpointCheck('AWS_ENDPOINT_URL_STS') ?? common,
    roleArn,
    idToken,
    sessionName,
    durationSeconds: c.int('AWS_ROLE_DURATION_SECONDS', 3600, 900, 43200, 'the role session length in seconds'),
    roleChain,
    staticKeys: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken: c.get('AWS_SESSION_TOKEN') } : undefined,
    // Read by doctor only (src/credentials/trust-review.ts): the role's trust policy, to review its conditions.
    trustPolicy: c.get('GESTALT_TRUST_POLICY'),
  };
}

function readStorage(c: Checker, job: JobContext): StorageSettings {
  const bucket = c.required('S3_BUCKET_NAME', 'name the S3 bucket that holds packages and deployment records.');
  if (bucket && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) c.problem('S3_BUCKET_NAME', `'${bucket}' is not a valid bucket name; use 3–63 lowercase letters, digits, dots and hyphens.`);
  const prefix = (c.get('S3_PREFIX') ?? job.projectPath).replace(/^\/+|\/+$/g, '');
  if (!prefix) c.problem('S3_PREFIX', 'is empty and CI_PROJECT_PATH is not set; set S3_PREFIX to the key prefix for this project, e.g. acme/lambdas.');
  const access = c.oneOf('GESTALT_PACKAGE_ACCESS', 'private', PACKAGE_ACCESS);
  return {
    bucket,
    prefix,
    forcePathStyle: c.bool('S3_FORCE_PATH_STYLE', false),
    access,
    presignSeconds: c.int('GESTALT_PRESIGN_EXPIRES', 604800, 60, 604800, 'the presigned URL lifetime in seconds'),
  };
}

function readLifecycle(c: Checker, command: Command, job: JobContext): LifecycleSettings {
  const rollbackTo = c.get('GESTALT_ROLLBACK_TO');
  if (rollbackTo !== undefined && !/^[1-9]\d{0,8}$|^[0-9a-fA-F]{7,40}$/.test(rollbackTo)) {
    c.problem('GESTALT_ROLLBACK_TO', `'${rollbackTo}' is neither a history number (see gestalt-deploy history) nor a commit SHA of at least 7 hex digits.`);
  }
  const promoteFrom = c.get('GESTALT_PROMOTE_FROM');
  if (command === 'promote' && promoteFrom === undefined) c.problem('GESTALT_PROMOTE_FROM', 'is not set; name the environment whose deployment to promote, e.g. staging or review/main.');
  if (command === 'promote' && promoteFrom !== undefined && promoteFrom === job.environment) c.problem('GESTALT_PROMOTE_FROM', `names this job's own environment '${promoteFrom}'; name the environment to promote from.`);
  const planFile = c.get('GESTALT_PLAN');
  if (planFile !== undefined && command === 'deploy' && !existsSync(resolve(job.projectDir, planFile))) c.problem('GESTALT_PLAN', `'${planFile}' does not exist in ${job.projectDir}; give the gestalt-plan.json the plan job wrote (as an artifact), or unset GESTALT_PLAN.`);
  return {
    historyLimit: c.int('GESTALT_HISTORY_LIMIT', 20, 2, 1000, 'the number of history entries kept per environment'),
    rollbackTo,
    promoteFrom,
    verifyTimeoutSeconds: c.int('GESTALT_VERIFY_TIMEOUT', 60, 1, 3600, 'how long verify retries, in seconds'),
    verifyRollback: c.bool('GESTALT_VERIFY_ROLLBACK', false),
    pruneEnvironments: splitList(c.get('GESTALT_PRUNE_ENVIRONMENTS')),
    prunePackagesDays: c.int('GESTALT_PRUNE_PACKAGES_DAYS', 30, 0, 36500, 'the age in days before an unreferenced package is deleted'),
    pruneAfterDays: c.int('GESTALT_PRUNE_AFTER_DAYS', 14, 0, 36500, 'the days without a deploy before prune stops an environment'),
    dryRun: false,
    planFile: planFile === undefined ? undefined : resolve(job.projectDir, planFile),
  };
}

function readMethods(c: Checker): string[] {
  const raw = c.get('LAMBDA_METHODS');
  if (raw === undefined) return ['GET', 'POST'];
  const methods = raw.split(/[\s,]+/).filter(Boolean).map((m) => m.toUpperCase());
  for (const m of methods) if (!isHttpMethod(m)) c.problem('LAMBDA_METHODS', `'${m}' is not an HTTP method; use ${HTTP_METHODS.join(', ')}.`);
  return methods;
}

function readFunctionsFile(c: Checker, projectDir: string, writes: boolean): string | undefined {
  const explicit = c.get('GESTALT_CONFIG');
  if (explicit !== undefined) {
    const path = resolve(projectDir, explicit);
    if (writes && !existsSync(path)) c.problem('GESTALT_CONFIG', `'${explicit}' does not exist in ${projectDir}; fix the path or unset GESTALT_CONFIG.`);
    return path;
  }
  const fallback = resolve(projectDir, DEFAULT_FUNCTIONS_FILE);
  return writes && existsSync(fallback) ? fallback : undefined;
}
