// The examples as data: what gitlab-ci-local does not check (it accepts an on_stop naming a missing job, and stop
// jobs whose rules differ from their deploy job's, which GitLab then never runs on branch deletion), and that
// every variable an example sets is one the runner reads.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/template-server.js';
import { exampleNames, interpolate, readExample, readTemplate, resolveJob } from './ci-yaml.js';
import type { Json } from './ci-yaml.js';

const EXPECTED = ['component', 'cross-account', 'function-groups', 'gateway-migration', 'merge-request-plan', 'production', 'promote-verify', 'review-environments', 'scheduled-prune'];
/** The examples that include the CI/CD component rather than the remote template. */
const COMPONENT_EXAMPLES = ['component'];
const DEFAULT_STAGES = ['.pre', 'build', 'test', 'deploy', '.post'];
const RUNNER_PREFIX = /^(LAMBDA_|GESTALT_|AWS_|S3_|GF_|CI_URL$)/;

let version: string;
let template: { spec: Json; jobs: Json };
/** Variable names the runner reads (src/config/env.ts, and the ID token the template fills). */
let runnerVariables: Set<string>;

beforeAll(async () => {
  version = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).version;
  template = await readTemplate();
  const env = await readFile(join(REPO_ROOT, 'src/config/env.ts'), 'utf8');
  runnerVariables = new Set([...env.matchAll(/'([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1] as string));
});

/** The example merged with the template jobs, interpolated with the example's include inputs. */
async function load(name: string): Promise<{ text: string; config: Json; configs: Json[]; include: Json }> {
  const { text, config } = await readExample(name);
  const includes = Array.isArray(config.include) ? config.include : [config.include];
  expect(includes, `${name}: one include, the template`).toHaveLength(1);
  const include = includes[0];
  const values = Object.fromEntries(Object.entries(template.spec.spec.inputs as Record<string, Json>).map(([k, v]) => [k, include.inputs?.[k] ?? v.default]));
  return { text, config, configs: [interpolate(template.jobs, values), config], include };
}

function jobNames(config: Json): string[] {
  const reserved = new Set(['include', 'stages', 'variables', 'workflow', 'default', 'image', 'services', 'cache', 'before_script', 'after_script', 'spec']);
  return Object.keys(config).filter((k) => !reserved.has(k) && !k.startsWith('.'));
}

const extendsOf = (job: Json): string[] => (job.extends === undefined ? [] : Array.isArray(job.extends) ? job.extends : [job.extends]);
const ruleIfs = (job: Json): string[] => (job.rules ?? []).map((r: Json) => r.if ?? '');

describe('examples/', () => {
  it('has one directory per flow, each with a complete .gitlab-ci.yml', async () => {
    expect(await exampleNames()).toEqual(EXPECTED);
  });

  it.each(EXPECTED)('%s: includes the template by remote URL, or the component, pinned to this release', async (name) => {
    const { include } = await load(name);
    if (COMPONENT_EXAMPLES.includes(name)) {
      // The component at the release's tag, on whichever instance hosts the project (CI_SERVER_FQDN).
      expect(include).not.toHaveProperty('remote');
      expect(include.component).toBe(`$CI_SERVER_FQDN/gestalt-deploy/gestalt-deploy/deploy@${version}`);
    } else {
      // Where a release publishes it (.gitlab-ci.yml, template-release): the generic package of that version.
      expect(include.remote).toBe(`https://gitlab.com/api/v4/projects/gestalt-deploy%2Fgestalt-deploy/packages/generic/gestalt-deploy-template/${version}/deploy.gitlab-ci.yml`);
    }
    for (const key of Object.keys(include.inputs ?? {})) expect(Object.keys(template.spec.spec.inputs), `${name}: input ${key} exists`).toContain(key);
  });

  it('component: review environments stop after the auto_stop_in input; production overrides it with never', async () => {
    const { include, configs } = await load('component');
    expect(include.inputs.auto_stop_in).toMatch(/^\d+ (day|week|hour)s?$/);
    expect(resolveJob(configs, 'deploy_review').environment.auto_stop_in).toBe(include.inputs.auto_stop_in);
    const production = resolveJob(configs, 'deploy_production');
    expect(production.environment).toMatchObject({ name: 'production', deployment_tier: 'production', auto_stop_in: 'never' });
    expect(resolveJob(configs, 'stop_review').resource_group).toBe(`${include.inputs.resource_group_prefix}/$CI_ENVIRONMENT_NAME`);
    const verify = resolveJob(configs, 'verify_review');
    expect(verify.needs).toEqual(['deploy_review']);
    expect(verify.environment).toEqual({ name: 'review/$CI_COMMIT_REF_SLUG', action: 'verify' });
  });

  it.each(EXPECTED)('%s: every gestalt job names its environment, keeps the image and token, and runs in a known stage', async (name) => {
    const { config, configs } = await load(name);
    const stages: string[] = config.stages ? ['.pre', ...config.stages, '.post'] : DEFAULT_STAGES;
    const gestalt = jobNames(config).filter((j) => extendsOf(config[j]).some((e) => e.startsWith('.gestalt-')));
    expect(gestalt.length).toBeGreaterThanOrEqual(1);
    for (const j of jobNames(config)) {
      const job = resolveJob(configs, j);
      expect(stages, `${name}: ${j}'s stage ${job.stage ?? 'test'}`).toContain(job.stage ?? 'test');
      for (const need of job.needs ?? []) expect(jobNames(config), `${name}: ${j} needs ${need}`).toContain(typeof need === 'string' ? need : need.job);
    }
    for (const j of gestalt) {
      const job = resolveJob(configs, j);
      // prune looks at every environment under S3_PREFIX, so it has none of its own.
      if (!extendsOf(config[j]).includes('.gestalt-prune')) expect(job.environment?.name, `${name}: ${j} names its environment`).toBeTruthy();
      expect(config[j].image, `${name}: ${j} keeps the template's image`).toBeUndefined();
      expect(config[j].id_tokens, `${name}: ${j} keeps the template's ID token`).toBeUndefined();
      expect(job.script.some((l: string) => /^gestalt-deploy (deploy|stop|plan|verify|promote|rollback|prune)$/.test(l)), `${name}: ${j} still calls the runner`).toBe(true);
    }
  });

  it.each(EXPECTED)('%s: each on_stop names a .gestalt-stop job for the same environment, with the same rules and when: manual', async (name) => {
    const { config, configs } = await load(name);
    // A promotion deploys too: it names the stop job of the environment it creates.
    const deploys = jobNames(config).filter((j) => extendsOf(config[j]).some((e) => e === '.gestalt-deploy' || e === '.gestalt-promote'));
    const stops = jobNames(config).filter((j) => extendsOf(config[j]).includes('.gestalt-stop'));
    expect(stops.length, `${name}: every example shows how to stop what it deploys`).toBeGreaterThanOrEqual(1);
    for (const d of deploys) {
      const deploy = resolveJob(configs, d);
      const stopName = deploy.environment.on_stop;
      if (stopName === undefined) {
        // Only a matrix deploy may leave it out (GitLab cannot target one matrix instance); its stop job has the same matrix.
        expect(deploy.parallel?.matrix, `${name}: ${d} has no on_stop`).toBeDefined();
        const stop = stops.map((s) => resolveJob(configs, s)).find((s) => s.environment.name === deploy.environment.name);
        expect(stop, `${name}: a stop job for ${deploy.environment.name}`).toBeDefined();
        const groups = (m: Json[]) => m.flatMap((e: Json) => [e.FUNCTION_GROUP].flat()).sort();
        expect(groups(stop.parallel.matrix)).toEqual(groups(deploy.parallel.matrix));
        continue;
      }
      expect(stops, `${name}: ${d}'s on_stop`).toContain(stopName);
      const stop = resolveJob(configs, stopName);
      expect(stop.environment).toEqual({ name: deploy.environment.name, action: 'stop' });
      expect(stop.stage).toBe(deploy.stage);
      // GitLab runs the stop job on branch deletion only if it could have been created with the deploy job.
      expect(ruleIfs(stop)).toEqual(ruleIfs(deploy));
    }
    for (const s of stops) {
      const stop = resolveJob(configs, s);
      for (const rule of stop.rules ?? []) expect(rule.when, `${name}: ${s} rule ${rule.if}`).toBe('manual');
      expect(stop.variables.GIT_STRATEGY).toBe('none');
    }
  });

  it.each(EXPECTED)('%s: sets only variables the runner reads (a typo would silently do nothing)', async (name) => {
    const { config } = await load(name);
    const set = [config.variables, ...jobNames(config).map((j) => config[j].variables), ...jobNames(config).flatMap((j) => config[j].parallel?.matrix ?? [])]
      .filter(Boolean)
      .flatMap((v: Json) => Object.keys(v));
    const runnerish = set.filter((v) => RUNNER_PREFIX.test(v) && v !== 'GESTALT_IMAGE');
    expect(runnerish.length).toBeGreaterThan(0);
    for (const v of runnerish) expect(runnerVariables, `${name}: ${v}`).toContain(v);
  });

  it('gateway-migration keeps the original integration: its variables, its settings, gateway mode', async () => {
    const { text, config } = await load('gateway-migration');
    expect(Object.keys(config.variables).sort()).toEqual(['LAMBDA_API', 'LAMBDA_ARTIFACTS', 'LAMBDA_ENVIRONMENT_ID', 'LAMBDA_RUNTIME']);
    for (const setting of ['CI_URL', 'GF_API_KEY', 'GF_API_SECRET', 'S3_BUCKET_NAME', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      expect(text, `the migration notes name ${setting}`).toContain(setting);
    }
    expect(text).not.toMatch(/GESTALT_META_URL:/);
  });

  it('review-environments stops automatically: on_stop, auto_stop_in, and a stop job GitLab can run when the branch goes away', async () => {
    const { configs } = await load('review-environments');
    const deploy = resolveJob(configs, 'deploy_review');
    expect(deploy.environment.name).toBe('review/$CI_COMMIT_REF_SLUG');
    expect(deploy.environment.auto_stop_in).toMatch(/\d+ (day|week|hour)s?/);
    expect(deploy.environment.url).toBe('$GESTALT_ENVIRONMENT_URL');
  });

  it('promote-verify: staging is deployed and verified on every push; production only gets what staging runs, by hand, verified with rollback', async () => {
    const { configs } = await load('promote-verify');
    const job = (name: string) => resolveJob(configs, name);
    const onDefault = [{ if: '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH' }];
    const byHand = [{ if: '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH', when: 'manual' }];
    expect(job('deploy_staging').rules).toEqual(onDefault);
    expect(job('verify_staging')).toMatchObject({ needs: ['deploy_staging'], rules: onDefault, environment: { name: 'staging', action: 'verify' } });
    // Production is never built: the promotion has no build job to need, only the verified staging.
    const promote = job('promote_production');
    expect(promote).toMatchObject({ needs: ['verify_staging'], rules: byHand, environment: { name: 'production', deployment_tier: 'production', on_stop: 'stop_production' } });
    expect(promote.variables.GESTALT_PROMOTE_FROM).toBe('staging');
    expect(promote.script).toEqual(['gestalt-deploy promote']);
    expect(promote.dependencies).toEqual([]);
    // Verification starts by itself once the promotion ran, and rolls back what fails.
    const verify = job('verify_production');
    expect(verify).toMatchObject({ needs: ['promote_production'], rules: onDefault, environment: { name: 'production', action: 'verify' } });
    expect(verify.variables.GESTALT_VERIFY_ROLLBACK).toBe('true');
    const rollback = job('rollback_production');
    expect(rollback.rules).toEqual([{ ...byHand[0], allow_failure: true }]);
    expect(rollback.environment.name).toBe('production');
    expect(rollback.script).toEqual(['gestalt-deploy rollback']);
    // Staging and production jobs each use their environment's role; all production jobs share one resource group.
    for (const name of ['deploy_staging', 'verify_staging', 'stop_staging']) expect(job(name).variables.AWS_ROLE_ARN, name).toMatch(/role\/gitlab-gestalt-deploy$/);
    for (const name of ['promote_production', 'verify_production', 'rollback_production', 'stop_production']) {
      expect(job(name).variables.AWS_ROLE_ARN, name).toMatch(/role\/gitlab-gestalt-production$/);
      expect(job(name).resource_group, name).toBe(promote.resource_group);
    }
    // Staging and production are deployed from the same branch: the environment must be part of the names.
    expect(configs[1].variables.GESTALT_NAME_TEMPLATE).toContain('{env}');
  });

  it('scheduled-prune: the schedule runs prune only, over review environments; pushes never prune and schedules never deploy', async () => {
    const { config, configs } = await load('scheduled-prune');
    const prune = resolveJob(configs, 'prune');
    expect(prune.rules).toEqual([{ if: '$CI_PIPELINE_SOURCE == "schedule"' }]);
    expect(prune.script).toEqual(['gestalt-deploy prune']);
    expect(prune.environment).toBeUndefined();
    expect(prune.variables).toMatchObject({ GIT_STRATEGY: 'none', GESTALT_PRUNE_ENVIRONMENTS: 'review/*' });
    expect(Number(prune.variables.GESTALT_PRUNE_AFTER_DAYS)).toBeGreaterThan(0);
    expect(Number(prune.variables.GESTALT_PRUNE_PACKAGES_DAYS)).toBeGreaterThan(0);
    for (const j of jobNames(config).filter((n) => n !== 'prune')) {
      const rules = ruleIfs(resolveJob(configs, j));
      expect(rules.length, `${j} has rules`).toBeGreaterThan(0);
      for (const rule of rules) expect(rule, `${j} stays out of the schedule`).toContain('$CI_PIPELINE_SOURCE != "schedule"');
    }
  });

  it('production deploys by hand from the default branch only, and keeps the runner call next to its own command', async () => {
    const { config, configs } = await load('production');
    const deploy = resolveJob(configs, 'deploy_production');
    expect(deploy.rules).toEqual([{ if: '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH', when: 'manual' }]);
    expect(deploy.environment.name).toBe('production');
    expect(deploy.environment.deployment_tier).toBe('production');
    expect(config.deploy_production.script.at(-1)?.path).toEqual(['.gestalt-deploy', 'script']);
    expect(deploy.script.at(-1)).toBe('gestalt-deploy deploy');
  });
});
