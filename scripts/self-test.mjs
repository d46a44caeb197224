#!/usr/bin/env node
// npm run self-test: the CI/CD component of this commit, included the way a project includes it, deploying for real.
//
// The project's .gitlab-ci.yml includes `$CI_SERVER_FQDN/$CI_PROJECT_PATH/deploy@$CI_COMMIT_SHA` and defines
// self-test-deploy (extends .gestalt-deploy), self-test-verify (extends .gestalt-verify) and self-test-stop (extends
// .gestalt-stop). Those jobs need something to deploy to, so they only exist when
// PIPELINE_SELF_TEST=local: this script starts the local stand-ins (S3, Gestalt Meta emulator, OIDC issuer + STS,
// an endpoint server), copies the checkout into a throwaway repository whose remote is this project, and runs the
// three jobs there with gitlab-ci-local and the built runner (dist/gestalt-deploy.js) as `gestalt-deploy`:
// deploy → verify, then the stop job alone with nothing left in the checkout (as after GIT_STRATEGY: none).
// It checks real state after each step and exits 1, with gitlab-ci-local's output, when anything is off.
//
// The component_self_test job of .gitlab-ci.yml runs this in GitLab CI; test/pipeline/project-ci.test.ts runs that
// job through gitlab-ci-local.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importTs, repoRoot } from './lib/import-ts.mjs';

const PROJECT = 'gestalt-deploy/gestalt-deploy';
const BRANCH = 'self-test';
const ENVIRONMENT = `self-test/${BRANCH}`;
const ROLE = 'arn:aws:iam::123456789012:role/gestalt-deploy-self-test';
const JOBS = { deploy: 'self-test-deploy', verify: 'self-test-verify', stop: 'self-test-stop' };

// The AWS SDK warns that later releases need Node 22: noise here, like in the runner's own log.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (!/NodeVersionSupport/.test(`${w.name} ${w.message}`)) process.stderr.write(`${w.name}: ${w.message}\n`);
});

class Failure extends Error {
  constructor(message, output = '') {
    super(message);
    this.output = output;
  }
}

const say = (line = '') => process.stdout.write(`[self-test] ${line}\n`);
const check = (ok, message, output) => {
  if (!ok) throw new Failure(message, output);
};

/** What a checkout of this commit holds: tracked and untracked files, without ignored ones (node_modules, dist). */
async function checkoutFiles() {
  const names = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' });
  const files = {};
  for (const name of new Set(names.split('\0').filter(Boolean))) {
    // Deleted in the working tree but still tracked: a checkout would not have it either.
    const content = await readFile(join(repoRoot, name)).catch((err) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
    if (content !== undefined) files[name] = content;
  }
  return files;
}

const lib = await importTs('test/support/stack-entry.ts');
let stack;
let dir;
let bin;
try {
  stack = await lib.startStack();
  // A role that trusts exactly this project's self-test branch, as a deploy role should.
  stack.sts.roles.push({ arn: ROLE, trust: stack.sts.trustPolicyFor(`project_path:${PROJECT}:ref_type:branch:ref:${BRANCH}`, lib.EXAMPLE.serverUrl) });
  bin = await lib.makeBinDir();
  dir = await lib.makeRepo({ files: await checkoutFiles(), projectPath: PROJECT, branch: BRANCH });
  await lib.setProjectVariables(dir, {
    ...stack.settings('meta', 'oidc'),
    AWS_ROLE_ARN: ROLE,
    LAMBDA_API: lib.EXAMPLE.api,
    LAMBDA_ENVIRONMENT_ID: lib.EXAMPLE.environmentId,
  });
  // gitlab-ci-local mints no ID tokens: this is the one GitLab would give the job.
  const token = await stack.idToken({ projectPath: PROJECT, ref: BRANCH, environment: ENVIRONMENT });
  const run = (jobs) => lib.gcl(dir, jobs, { bin, variables: { PIPELINE_SELF_TEST: 'local', GESTALT_ID_TOKEN: token } });
  const mine = () => stack.meta.lambdas().filter((l) => l.name.startsWith(`${PROJECT.split('/')[1]}/${BRANCH}/`));
  say(`local stand-ins up: S3 (${stack.s3.kind}), Gestalt Meta ${stack.meta.url}, STS ${stack.sts.stsUrl}`);

  const pipeline = await run([JOBS.deploy, JOBS.verify]);
  const jobs = lib.jobResults(pipeline.output);
  check(pipeline.code === 0 && jobs.passed.includes(JOBS.deploy) && jobs.passed.includes(JOBS.verify), `${JOBS.deploy} → ${JOBS.verify} did not pass`, pipeline.output);
  const deployed = mine();
  check(deployed.length > 0, `${JOBS.deploy} passed but Gestalt has no function of ${PROJECT} on ${BRANCH}`, pipeline.output);
  const record = await stack.s3.getObject(stack.bucket, `${PROJECT}/deployments/${ENVIRONMENT}.json`);
  check(record != null, `no deployment record for ${ENVIRONMENT} in S3`, pipeline.output);
  check(stack.endpoints.hits.length > 0, `${JOBS.verify} passed without calling the deployed endpoints`, pipeline.output);
  const verified = JSON.parse(await readFile(join(dir, 'gestalt-verify.json'), 'utf8'));
  check(verified.checks?.length === deployed.length && verified.checks.every((c) => c.ok), `${JOBS.verify} did not check every function`, pipeline.output);
  const assumed = stack.sts.requests.filter((r) => r.action === 'AssumeRoleWithWebIdentity' && r.roleArn === ROLE && r.status === 200);
  check(assumed.length > 0, `${JOBS.deploy} did not get its credentials with the job's ID token`, pipeline.output);
  say(`${JOBS.deploy} ✔ ${deployed.map((l) => l.name).join(', ')}; ${JOBS.verify} ✔ ${stack.endpoints.hits.map((h) => `${h.method} ${h.path}`).join(', ')}`);

  // The Stop button or branch deletion: the stop job alone, with no packages or reports in the checkout.
  await lib.removeCheckoutOutputs(dir);
  const stop = await run([JOBS.stop]);
  check(stop.code === 0 && lib.jobResults(stop.output).passed.includes(JOBS.stop), `${JOBS.stop} did not pass`, stop.output);
  check(mine().length === 0, `${JOBS.stop} passed but functions are left: ${mine().map((l) => l.name).join(', ')}`, stop.output);
  check((await stack.s3.getObject(stack.bucket, `${PROJECT}/deployments/${ENVIRONMENT}.json`)) == null, 'the deployment record is still there', stop.output);
  say(`${JOBS.stop} ✔ nothing left in Gestalt or in the deployment records`);
} catch (err) {
  say(`FAILED: ${err.message}`);
  if (err.output) process.stdout.write(`${err.output}\n`);
  process.exitCode = 1;
} finally {
  await stack?.close();
  await lib.removeDir(dir);
  await lib.removeDir(bin);
}
