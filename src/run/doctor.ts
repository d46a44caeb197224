import { HeadBucketCommand } from '@aws-sdk/client-s3';
import type { Config } from '../config/types.js';
import { resolveCredentials } from '../credentials/index.js';
import { decodeClaims, formatClaims, providerHost, trustPolicy, wildcardSub } from '../credentials/diagnose.js';
import { logTrustReview } from '../credentials/trust-review.js';
import { EXIT, errorMessage, type ExitCode, type Problem } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { createHttpClient } from '../net/http.js';
import { createS3Client } from '../storage/client.js';
import { s3Failure } from '../storage/errors.js';
import { createTarget } from '../gestalt/create.js';

/** Configuration, ID token claims, the trust policy that would admit this job, and read-only reachability. */
export async function runDoctor(config: Config, problems: Problem[], log: Logger): Promise<ExitCode> {
  let failed = false;
  const check = (ok: boolean, text: string) => {
    log.info(`  [${ok ? ' ok ' : 'FAIL'}] ${text}`);
    if (!ok) failed = true;
  };

  await log.section('doctor_config', 'Configuration', async () => {
    if (problems.length === 0) check(true, `configuration is complete for ${config.target.mode} mode`);
    for (const p of problems) check(false, `${p.variable}: ${p.message}`);
  });

  const claims = decodeClaims(config.aws.idToken);
  await log.section('doctor_token', 'GitLab ID token (GESTALT_ID_TOKEN)', async () => {
    if (!config.aws.idToken) {
      log.info(config.aws.roleArn ? '  missing: add id_tokens: GESTALT_ID_TOKEN to the job.' : '  not set (no AWS_ROLE_ARN either: static keys or the SDK default chain will be used).');
      return;
    }
    if (!claims) return check(false, 'GESTALT_ID_TOKEN is not a JWT; it must come from id_tokens:.');
    log.info('  claims (decoded, not verified):');
    for (const line of formatClaims(claims)) log.info(`  ${line}`);
    if (typeof claims.exp === 'number') check(claims.exp * 1000 > Date.now(), `token ${claims.exp * 1000 > Date.now() ? 'valid until' : 'expired at'} ${new Date(claims.exp * 1000).toISOString()}`);
    log.info(`\n  IAM OIDC identity provider: URL ${claims.iss ?? '?'}, audience ${Array.isArray(claims.aud) ? claims.aud[0] : (claims.aud ?? '?')}`);
    log.info(`  Trust policy for ${config.aws.roleArn ?? 'the role'} that admits this job (project ${claims.project_path ?? '?'}, ${claims.ref_type ?? 'ref'} ${claims.ref ?? '?'}):`);
    log.info(indent(JSON.stringify(trustPolicy(claims, config.aws.roleArn), null, 2)));
    const wide = wildcardSub(claims);
    if (wide) {
      log.info(`  To admit every ${claims.ref_type} of the project instead, use StringLike on "${providerHost(claims.iss ?? '')}:sub":`);
      log.info(indent(JSON.stringify(trustPolicy(claims, config.aws.roleArn, wide), null, 2)));
    }
  });

  let identity: Awaited<ReturnType<typeof resolveCredentials>> | undefined;
  await log.section('doctor_reach', 'Reachability (read-only)', async () => {
    const once = { ...config.http, retry: { ...config.http.retry, attempts: 1 } };
    try {
      identity = await resolveCredentials(config.aws, once, log);
      check(true, `AWS credentials: ${identity.source}${identity.roleArn ? ` as ${identity.roleArn}` : ''}`);
    } catch (err) {
      check(false, `AWS credentials: ${errorMessage(err)}`);
    }
    if (identity && config.storage.bucket) {
      const s3 = createS3Client(config.aws, config.storage, identity, once);
      try {
        await s3.send(new HeadBucketCommand({ Bucket: config.storage.bucket }));
        check(true, `S3 bucket s3://${config.storage.bucket} reachable with these credentials (HeadBucket)`);
      } catch (err) {
        check(false, s3Failure('HeadBucket', `s3://${config.storage.bucket}`, err).message);
      } finally {
        s3.destroy();
      }
    }
    if (config.target.url) {
      const http = createHttpClient({ timeoutMs: Math.min(config.http.timeoutMs, 10_000), retry: { ...config.http.retry, attempts: 1 }, log });
      try {
        check(true, `Gestalt: ${await createTarget(config.target, config.job, config.http.retry, http, log).probe()}`);
      } catch (err) {
        check(false, `Gestalt (${config.target.url}): ${errorMessage(err)}`);
      }
    }
  });

  const review = await log.section('doctor_trust', 'Trust policy review', async () => logTrustReview(claims, config, identity?.source === 'web-identity', log));
  if (review) problems.push(review);

  if (problems.length > 0) return EXIT.config;
  return failed ? EXIT.remote : EXIT.ok;
}

function indent(text: string): string {
  return text.replace(/^/gm, '    ');
}
