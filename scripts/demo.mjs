// npm run demo: the review-environments example, for real, on this machine.
//
// Starts the local stack (S3, Gestalt Meta emulator, OIDC issuer + STS, a stand-in for the API gateway, the template
// served over HTTP), makes a throwaway project whose .gitlab-ci.yml is examples/review-environments (it includes the
// template by `include: remote:`), runs its pipeline with gitlab-ci-local and the built runner as `gestalt-deploy`,
// then runs the manual stop job alone with nothing from the checkout, and says what happened.
//
// The stand-ins are TypeScript test support; esbuild bundles them on the fly so this runs with plain node.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importTs } from './lib/import-ts.mjs';

// The AWS SDK warns that later releases need Node 22: noise here, like in the runner's own log.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (!/NodeVersionSupport/.test(`${w.name} ${w.message}`)) process.stderr.write(`${w.name}: ${w.message}\n`);
});

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const say = (line = '') => process.stdout.write(`${line}\n`);

class Failure extends Error {
  constructor(message, output) {
    super(message);
    this.output = output;
  }
}

const lib = await importTs('test/support/stack-entry.ts');

const EXAMPLE = 'review-environments';
const BRANCH = 'feature/login';
const project = `acme/${EXAMPLE}`;
let stack;
let dir;
let bin;
try {
  stack = await lib.startStack();
  bin = await lib.makeBinDir();
  say(`Local stack up (${elapsed()}): S3 (${stack.s3.kind}) ${stack.s3.endpoint}, Gestalt Meta ${stack.meta.url}, STS ${stack.sts.stsUrl}`);
  say(`Template served at ${stack.templates.templateUrl}`);

  dir = await lib.makeExampleRepo({
    example: EXAMPLE,
    templateUrl: stack.templates.templateUrl,
    files: lib.SAMPLE_SOURCES,
    variables: stack.settings('meta', 'oidc'),
    branch: BRANCH,
  });
  // gitlab-ci-local does not mint ID tokens: mint the one GitLab would give this job.
  const token = await stack.idToken({ projectPath: project, ref: BRANCH });
  say(`Project ${project}, branch ${BRANCH}: .gitlab-ci.yml = examples/${EXAMPLE}/.gitlab-ci.yml`);
  say();

  const pipeline = await lib.gcl(dir, [], { bin, variables: { GESTALT_ID_TOKEN: token } });
  const jobs = lib.jobResults(pipeline.output);
  if (pipeline.code !== 0) throw new Failure('the pipeline failed', pipeline.output);
  say(`Pipeline (${(pipeline.ms / 1000).toFixed(1)} s): ${jobs.passed.map((j) => `${j} ✔`).join(', ')}`);
  const report = JSON.parse(await readFile(join(dir, 'gestalt-deploy.json'), 'utf8'));
  say(`  deploy_review: ${report.functions.length} functions in environment ${report.environment}, via ${report.mode} mode, credentials from the job's ID token`);
  for (const f of report.functions) say(`    ${f.name.padEnd(46)} ${f.action.padEnd(8)} ${f.url}`);
  const dotenv = await readFile(join(dir, '.gitlab-ci-local/artifacts/deploy_review/.gitlab-ci-reports/dotenv/gestalt-deploy.env'), 'utf8');
  const url = /^GESTALT_ENVIRONMENT_URL=(.*)$/m.exec(dotenv)?.[1];
  say(`  environment URL (dotenv report): ${url}`);
  const smoke = stack.endpoints.hits.map((h) => `${h.method} ${h.path}`);
  say(`  smoke_review got GESTALT_ENVIRONMENT_URL from the dotenv report and called it: ${smoke.join(', ') || 'no request!'}`);
  const packages = await stack.s3.listKeys(stack.bucket, `${project}/packages/`);
  const records = await stack.s3.listKeys(stack.bucket, `${project}/deployments/`);
  say(`  S3: ${packages.length} packages (content-addressed), deployment record ${records.join(', ')}`);
  say();

  // The Stop button, or the branch being deleted: the stop job alone, with no checkout (GIT_STRATEGY: none).
  await lib.removeCheckoutOutputs(dir);
  const stop = await lib.gcl(dir, ['stop_review'], { bin, variables: { GESTALT_ID_TOKEN: token } });
  if (stop.code !== 0) throw new Failure('the stop job failed', stop.output);
  const stopped = JSON.parse(await readFile(join(dir, 'gestalt-deploy.json'), 'utf8'));
  say(`Stop (${(stop.ms / 1000).toFixed(1)} s, run alone with no packages in the checkout): stop_review ✔`);
  for (const f of stopped.functions) say(`    ${f.name.padEnd(46)} ${f.action} (endpoints: ${f.endpoint})`);
  const left = stack.meta.lambdas().filter((l) => l.name.startsWith(`${EXAMPLE}/`)).length;
  const recordsLeft = await stack.s3.listKeys(stack.bucket, `${project}/deployments/`);
  say(`  left behind: ${left} functions in Gestalt, ${recordsLeft.length} deployment records (packages stay for rollback)`);
  say();
  say(`Done in ${elapsed()}.`);
  if (left !== 0 || recordsLeft.length !== 0 || !url || smoke.length === 0) process.exitCode = 1;
} catch (err) {
  process.exitCode = 1;
  if (err instanceof Failure) say(`demo: ${err.message}:\n${err.output}`);
  else say(`demo: ${err?.stack ?? err}`);
} finally {
  await stack?.close();
  await lib.removeDir(dir);
  await lib.removeDir(bin);
}
