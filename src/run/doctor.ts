import type { S3Client } from '@aws-sdk/client-s3';
import { hashFile } from '../artifacts/files.js';
import type { Config } from '../config/types.js';
import { missingCredentials } from '../credentials/missing.js';
import { resolveCredentials, type AwsIdentity } from '../credentials/index.js';
import { decodeClaims, formatClaims, providerHost, trustPolicy, wildcardSub } from '../credentials/diagnose.js';
import { logTrustReview } from '../credentials/trust-review.js';
import { ConfigError, EXIT, errorMessages, type ExitCode } from '../errors.js';
import { createTarget } from '../gestalt/create.js';
import type { Logger } from '../log/logger.js';
import { createHttpClient, NetworkError, type HttpClient } from '../net/http.js';
import { RecordStore } from '../record/store.js';
import type { Check } from '../reports/types.js';
import { createS3Client } from '../storage/client.js';
import { objectUrl, packageKey, PackageStore } from '../storage/packages.js';
import { checkBucket } from './preflight.js';
import { withReport } from './report.js';
import type { Validation } from './validate.js';

const LABEL: Record<Check['status'], string> = { ok: ' ok ', fail: 'FAIL', warn: 'warn' };
/** The variables that say where Gestalt is and how to sign in: with one of them wrong, Gestalt is not asked. */
const TARGET_VARIABLES = ['GESTALT_META_URL', 'GESTALT_ORG', 'GF_API_KEY', 'GF_API_SECRET', 'GESTALT_TOKEN', 'CI_URL'];

/**
 * Every problem deploy would report, the ID token's claims and the trust policy that admits this job, then
 * read-only: credentials, bucket, org, environment, API, provider, the record, and whether Gestalt can fetch
 * a package without credentials.
 */
export async function runDoctor(validation: Validation, log: Logger): Promise<ExitCode> {
  const { config, problems, warnings, functions } = validation;
  return withReport(config, 'doctor', log, async (report) => {
    const checks: Check[] = (report.checks = []);
    let invalid = problems.length > 0;
    const check = (status: Check['status'], text: string) => {
      log.info(`  [${LABEL[status]}] ${text}`);
      checks.push({ status, text });
    };
    const failed = (err: unknown, prefix = '') => {
      const config = err instanceof ConfigError ? err : missingCredentials(err);
      if (config) invalid = true;
      for (const m of errorMessages(config ?? err)) check('fail', `${prefix}${m}`);
    };

    await log.section('doctor_config', 'Configuration (the checks deploy runs)', async () => {
      if (problems.length === 0) check('ok', `configuration is complete for ${config.target.mode} mode: ${functions.length} function(s)${functions.length ? ` (${functions.map((f) => f.name).join(', ')})` : ''}`);
      for (const p of problems) check('fail', `${p.variable}: ${p.message}`);
      for (const w of warnings) check('warn', w);
    });

    await log.section('doctor_token', 'GitLab ID token (GESTALT_ID_TOKEN)', async () => tokenReport(config, log, check));

    let identity: AwsIdentity | undefined;
    await log.section('doctor_reach', 'Everything deploy needs (read-only)', async () => {
      const once = { ...config.http, retry: { ...config.http.retry, attempts: 1 } };
      try {
        identity = await resolveCredentials(config.aws, once, log);
        check('ok', `AWS credentials: ${identity.source}${identity.roleArn ? ` as ${identity.roleArn}` : ''}`);
      } catch (err) {
        failed(err, 'AWS credentials: ');
      }
      // A check whose variables are already wrong would only blame something else for them.
      const broken = (...names: string[]) => problems.some((p) => names.includes(p.variable));
      const http = createHttpClient({ timeoutMs: Math.min(config.http.timeoutMs, 10_000), retry: { ...config.http.retry, attempts: 1 }, log });
      const s3 = identity && !broken('S3_BUCKET_NAME', 'AWS_REGION', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3') ? createS3Client(config.aws, config.storage, identity, once) : undefined;
      try {
        const bucketOk = s3 ? await checkBucket(s3, config.storage, config.aws).then((text) => (check('ok', text), true), (err: unknown) => (failed(err), false)) : false;
        if (broken(...TARGET_VARIABLES)) log.info('  Gestalt: not checked until the configuration problems above are fixed.');
        else await gestaltChecks(config, http, log, check, failed);
        if (s3 && bucketOk) await packageChecks(validation, s3, http, check, failed);
      } finally {
        s3?.destroy();
      }
    });

    const review = await log.section('doctor_trust', 'Trust policy review', async () => logTrustReview(decodeClaims(config.aws.idToken), config, identity?.source === 'web-identity', log));
    if (review) {
      problems.push(review);
      invalid = true;
    }

    report.status = invalid ? 'invalid' : checks.some((c) => c.status === 'fail') ? 'failed' : 'success';
    if (invalid) report.problems = problems;
    return invalid ? EXIT.config : report.status === 'failed' ? EXIT.remote : EXIT.ok;
  });
}

type CheckFn = (status: Check['status'], text: string) => void;
type FailFn = (err: unknown, prefix?: string) => void;

/** meta: org, environment, API and provider, by the same lookups deploy makes (only the org without a placement); gateway: CI_URL answers. */
async function gestaltChecks(config: Config, http: HttpClient, log: Logger, check: CheckFn, failed: FailFn): Promise<void> {
  if (!config.target.url) return;
  const target = createTarget(config.target, config.job, { ...config.http.retry, attempts: 1 }, http, log);
  try {
    if (config.target.mode === 'meta' && config.environmentId && config.api) {
      await target.open({ api: config.api, environmentId: config.environmentId }, 'plan');
      check('ok', `Gestalt Meta: org '${config.target.org}', environment ${config.environmentId}, API '${config.api}'${config.target.providerId ? ` and Lambda provider ${config.target.providerId}` : ''} found`);
    } else {
      check('ok', `Gestalt: ${await target.probe()}`);
    }
  } catch (err) {
    failed(err, config.target.mode === 'gateway' ? `Gestalt (${config.target.url}): ` : '');
  }
}

/**
 * The environment's record, and an anonymous HEAD of one package: Gestalt fetches packages without AWS
 * credentials, so what an anonymous request gets is what Gestalt gets — unless the bucket policy grants
 * Gestalt's own address, which a runner elsewhere cannot tell. Hence a warning, never a failure.
 */
async function packageChecks(validation: Validation, s3: S3Client, http: HttpClient, check: CheckFn, failed: FailFn): Promise<void> {
  const { config } = validation;
  const records = new RecordStore(s3, config.storage, { environment: config.job.environment, projectPath: config.job.projectPath, mode: config.target.mode });
  let key: string | undefined;
  if (config.job.environment) {
    try {
      const record = await records.read(config.job.environment);
      check('ok', record ? `deployment record ${records.uri(config.job.environment)}: ${record.functions.length} function(s)` : `no deployment record yet at ${records.uri(config.job.environment)} (a first deploy creates it)`);
      key = record?.functions.find((f) => f.packageKey)?.packageKey;
    } catch (err) {
      failed(err);
    }
  }
  const { access } = config.storage;
  if (access === 'presigned') return check('ok', 'packages are fetched by presigned URL (GESTALT_PACKAGE_ACCESS=presigned): no bucket policy needed');
  key ??= await uploadedLocalPackage(validation, s3);
  if (!key) return check('warn', `no package in s3://${config.storage.bucket} yet to test whether Gestalt can fetch one without credentials; run doctor again after the first deploy`);
  const url = objectUrl(config.aws, config.storage, key);
  let status: number;
  try {
    status = (await http.request({ method: 'HEAD', url, retry: false })).status;
  } catch (err) {
    return check('warn', `an anonymous HEAD of ${url} got no answer (${err instanceof NetworkError ? err.message : String(err)}); Gestalt must reach that URL to fetch packages.`);
  }
  if (status >= 200 && status < 300) return check('ok', `an anonymous HEAD of ${url} answered ${status}: Gestalt can fetch packages without credentials`);
  check(
    'warn',
    access === 'public'
      ? `an anonymous HEAD of ${url} answered ${status} although GESTALT_PACKAGE_ACCESS=public: the object is not publicly readable (Block Public Access on the bucket or account?), so Gestalt cannot fetch it and functions fail at first invocation.`
      : `an anonymous HEAD of ${url} answered ${status}: Gestalt fetches private packages without AWS credentials, so unless the bucket policy grants Gestalt's address (aws:SourceIp or aws:SourceVpce on s3:GetObject) it cannot fetch them and functions fail at first invocation; see the README's "Gestalt side", or use GESTALT_PACKAGE_ACCESS=presigned.`,
  );
}

/** The smallest local package that is already in S3 (hashing it tells its key), for the anonymous check. */
async function uploadedLocalPackage(validation: Validation, s3: S3Client): Promise<string | undefined> {
  const { config, functions } = validation;
  const first = functions[0];
  if (!first) return undefined;
  const digest = await hashFile(first.absPath);
  const key = packageKey(config.storage, digest.sha256, first.file);
  const state = await new PackageStore(s3, config.storage, config.aws).state(key, digest).catch(() => 'absent' as const);
  return state === 'present' ? key : undefined;
}

function tokenReport(config: Config, log: Logger, check: CheckFn): void {
  const claims = decodeClaims(config.aws.idToken);
  if (!config.aws.idToken) {
    log.info(config.aws.roleArn ? '  missing: add id_tokens: GESTALT_ID_TOKEN to the job.' : '  not set (no AWS_ROLE_ARN either: static keys or the SDK default chain will be used).');
    return;
  }
  if (!claims) return check('fail', 'GESTALT_ID_TOKEN is not a JWT; it must come from id_tokens:.');
  log.info('  claims (decoded, not verified):');
  for (const line of formatClaims(claims)) log.info(`  ${line}`);
  if (typeof claims.exp === 'number') {
    const valid = claims.exp * 1000 > Date.now();
    check(valid ? 'ok' : 'fail', `token ${valid ? 'valid until' : 'expired at'} ${new Date(claims.exp * 1000).toISOString()}`);
  }
  log.info(`\n  IAM OIDC identity provider: URL ${claims.iss ?? '?'}, audience ${Array.isArray(claims.aud) ? claims.aud[0] : (claims.aud ?? '?')}`);
  log.info(`  Trust policy for ${config.aws.roleArn ?? 'the role'} that admits this job (project ${claims.project_path ?? '?'}, ${claims.ref_type ?? 'ref'} ${claims.ref ?? '?'}):`);
  log.info(indent(JSON.stringify(trustPolicy(claims, config.aws.roleArn), null, 2)));
  const wide = wildcardSub(claims);
  if (wide) {
    log.info(`  To admit every ${claims.ref_type} of the project instead, use StringLike on "${providerHost(claims.iss ?? '')}:sub":`);
    log.info(indent(JSON.stringify(trustPolicy(claims, config.aws.roleArn, wide), null, 2)));
  }
}

function indent(text: string): string {
  return text.replace(/^/gm, '    ');
}
