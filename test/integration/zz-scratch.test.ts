import { it } from 'vitest';
import { startFaultServer } from '../support/fault-server.js';
import { startGatewayFake } from '../support/gateway-fake.js';
import { runCli } from '../support/run-cli.js';
import { LAMBDA_VARS, freshBucket, projectWithPackages, s3Env, startS3Stack } from './setup.js';
it('show', async () => {
  const stack = await startS3Stack(); const gw = await startGatewayFake(); const dir = await projectWithPackages(['one.zip']);
  for (const [mode, which] of (process.env.SHOW ?? 'silent:s3,trickle:s3,trickle:sts,huge:sts,silent:gw,huge:meta').split(',').map((x) => x.split(':'))) {
    const f = await startFaultServer(mode as 'silent', { contentType: which === 'sts' ? 'text/xml' : 'application/json' });
    const extra: Record<string,string|undefined> = which === 's3' ? { AWS_ENDPOINT_URL_S3: f.url } : which === 'sts' ? { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/x', GESTALT_ID_TOKEN: 'a.b.c', AWS_ENDPOINT_URL_STS: f.url } : which === 'gw' ? { CI_URL: f.url } : { CI_URL: undefined, GESTALT_META_URL: f.url, GESTALT_ORG: 'root', GESTALT_LAMBDA_PROVIDER_ID: LAMBDA_VARS.LAMBDA_ENVIRONMENT_ID, GF_API_KEY: 'k', GF_API_SECRET: 'secretsecret' };
    const r = await runCli(['deploy'], { env: s3Env(stack, await freshBucket(stack), { CI_PROJECT_DIR: dir, CI_URL: gw.url, ...LAMBDA_VARS, GESTALT_HTTP_TIMEOUT: '2', GESTALT_RETRY_ATTEMPTS: '2', GITLAB_CI: 'false', ...extra }), cwd: dir });
    console.log(`=== ${mode} ${which}\n${r.output}`);
    await f.close();
  }
  await gw.close(); await stack.close();
}, 120000);
