// The template as data: what GitLab reads when a project includes it, checked key by key against the contract
// (the README's "Template inputs" and "Outputs", docs/architecture.md) and against what the runner writes (its
// report file names).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPORT_FILES } from '../../src/reports/write.js';
import { REPO_ROOT } from '../support/template-server.js';
import { Reference, interpolate, parseCiYaml, readTemplate, resolveJob, strings } from './ci-yaml.js';
import type { Json } from './ci-yaml.js';

const HIDDEN_JOBS = ['.gestalt-deploy', '.gestalt-stop', '.gestalt-verify', '.gestalt-rollback', '.gestalt-promote', '.gestalt-prune', '.gestalt-plan'] as const;
const TIERS = ['production', 'staging', 'testing', 'development', 'other'] as const;
const TIER_JOBS = ['auto', ...TIERS].map((t) => `.gestalt-deploy-tier:${t}`);
const INPUT_TYPES = ['string', 'number', 'boolean', 'array'];
const INPUT_RE = /\$\[\[\s*inputs\.([\w-]+)\s*(\|[^\]]*)?\]\]/g;

let version: string;
let spec: Json;
let jobs: Json;
let inputs: Record<string, Json>;
/** The jobs with every input at its default, as a project including the template without inputs gets them. */
let defaults: Json;

beforeAll(async () => {
  version = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).version;
  ({ spec, jobs } = await readTemplate());
  inputs = spec?.spec?.inputs ?? {};
  defaults = interpolate(jobs, Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.default])));
});

describe('templates/deploy.gitlab-ci.yml: spec header', () => {
  it('is two YAML documents: a spec header with inputs, then the jobs', () => {
    expect(Object.keys(spec)).toEqual(['spec']);
    expect(Object.keys(spec.spec)).toEqual(['inputs']);
    expect(Object.keys(inputs).length).toBeGreaterThan(0);
    expect(jobs).toBeTypeOf('object');
  });

  it('describes and types every input, and gives each a default of that type (include: remote: works with no inputs)', () => {
    for (const [name, input] of Object.entries(inputs)) {
      expect(name, 'input names: lowercase words and underscores').toMatch(/^[a-z][a-z0-9_]*$/);
      expect(INPUT_TYPES, `${name}: type`).toContain(input.type);
      expect(typeof input.description, `${name}: description`).toBe('string');
      expect((input.description as string).length, `${name}: a description that says something`).toBeGreaterThan(30);
      expect(input.default, `${name}: default (every input is optional)`).toBeDefined();
      const actual = Array.isArray(input.default) ? 'array' : typeof input.default;
      expect(actual, `${name}: the default is a ${input.type}`).toBe(input.type);
      if (input.options) expect(input.options, `${name}: the default is one of the options`).toContain(input.default);
      if (input.regex) expect(new RegExp(input.regex).test(String(input.default)), `${name}: the default matches the regex`).toBe(true);
    }
  });

  it("pins the runner image to this release: registry.gitlab.com/gestalt-deploy/gestalt-deploy:<package.json's version>", () => {
    expect(inputs.image?.default).toBe(`registry.gitlab.com/gestalt-deploy/gestalt-deploy:${version}`);
  });

  it('shows an include pinned to this release in its own usage comment', async () => {
    const { text } = await readTemplate();
    const pins = [...text.matchAll(/\/packages\/generic\/gestalt-deploy-template\/([^/\s]+)\/deploy\.gitlab-ci\.yml/g)].map((m) => m[1]);
    expect(pins.length).toBeGreaterThan(0);
    for (const pin of pins) expect(pin).toBe(version);
  });

  it('defaults the ID token audience to the instance URL, and its regex admits audiences but nothing that expands or executes', () => {
    const aud = inputs.id_token_audience;
    expect(aud.default).toBe('$CI_SERVER_URL');
    const re = new RegExp(aud.regex);
    for (const ok of ['$CI_SERVER_URL', '${CI_SERVER_URL}', 'https://gitlab.example.com', 'https://gitlab.example.com:8443/gitlab', 'sts.amazonaws.com', 'gestalt-deploy']) {
      expect(re.test(ok), ok).toBe(true);
    }
    for (const bad of ['$(touch /tmp/x)', '`id`', '${CI_JOB_TOKEN}', '$CI_JOB_TOKEN', 'https://x/$GF_API_SECRET', "a'b", 'a"b', 'a b', 'a\nb', '', '$CI_SERVER_URL$CI_JOB_TOKEN']) {
      expect(re.test(bad), JSON.stringify(bad)).toBe(false);
    }
    // GitLab evaluates input regexes with RE2: no lookaround, no backreferences.
    expect(aud.regex).not.toMatch(/\(\?[=!<]|\\[1-9]/);
  });

  it('takes stage names of plain characters only', () => {
    for (const name of ['stage', 'plan_stage']) {
      const re = new RegExp(inputs[name].regex);
      for (const ok of ['deploy', 'test', 'Deploy to production', 'review-apps', 'stage_2', 'deploy:eu', 'k8s/deploy', 'v1.2']) expect(re.test(ok), `${name}: ${ok}`).toBe(true);
      for (const bad of ['$(id)', 'deploy`id`', '${GF_API_SECRET}', '$CI_JOB_TOKEN', "it's", 'a"b', 'a\nb', ' deploy', '']) expect(re.test(bad), `${name}: ${JSON.stringify(bad)}`).toBe(false);
    }
  });

  it('uses every input it declares, and declares every input it uses', () => {
    const used = new Set([...JSON.stringify(jobs).matchAll(INPUT_RE)].map((m) => m[1]));
    expect([...used].sort()).toEqual(Object.keys(inputs).sort());
    expect(JSON.stringify(jobs), 'no interpolation functions (gitlab-ci-local ignores them)').not.toMatch(/\$\[\[[^\]]*\|/);
  });
});

describe('templates/deploy.gitlab-ci.yml: inputs never reach a shell', () => {
  // Where an input may land, and what GitLab does with it there. Every other place (above all script lines) is refused.
  it('puts each input only where GitLab validates or never expands it, and never in a longer string unless it is a closed list', () => {
    const uses = strings(jobs).filter((s) => s.value.includes('$[['));
    expect(uses.length).toBeGreaterThan(0);
    const placed = new Set<string>();
    for (const { path, value } of uses) {
      const where = path.join('.');
      const names = [...value.matchAll(INPUT_RE)].map((m) => m[1] as string);
      expect(names, `${where}: one input per value`).toHaveLength(1);
      const name = names[0] as string;
      placed.add(name);
      const input = inputs[name];
      const whole = new RegExp(`^\\$\\[\\[\\s*inputs\\.${name}\\s*\\]\\]$`).test(value);
      const [job, key, ...rest] = path;
      const re = input.regex ? new RegExp(input.regex) : undefined;
      if (key === 'variables') {
        expect(whole, `${where}: the whole value is one input`).toBe(true);
        expect(rest.length, `${where}: variables written as { value, expand: false }`).toBe(2);
        expect(rest[1], where).toBe('value');
        expect(jobs[job as string].variables[rest[0] as string].expand, `${where}: GitLab must not expand $VARS in it`).toBe(false);
      } else if (key === 'stage') {
        expect(whole && rest.length === 0, where).toBe(true);
        expect(input.regex ?? input.options, `${where}: the stage becomes CI_JOB_STAGE, which runners expand, so the input must be validated`).toBeDefined();
      } else if (key === 'id_tokens') {
        expect(whole, where).toBe(true);
        expect(rest.slice(1), where).toEqual(['aud']);
        expect(input.regex ?? input.options, `${where}: GitLab expands variables in aud, so the input must be validated`).toBeDefined();
      } else if (key === 'environment' && rest[0] === 'auto_stop_in') {
        // GitLab expands variables in auto_stop_in: no `$` may get through.
        expect(whole, where).toBe(true);
        expect(re?.test('$CI_JOB_TOKEN') || re?.test('${CI_JOB_TOKEN}') || re?.test('1 day $CI_JOB_TOKEN'), `${where}: the regex refuses variables`).toBe(false);
      } else if (key === 'resource_group') {
        // A prefix in front of /$CI_ENVIRONMENT_NAME; GitLab expands variables in it, so the regex allows no $, {, } or space.
        expect(value, where).toMatch(new RegExp(`^\\$\\[\\[ inputs\\.${name} \\]\\]/(\\$CI_ENVIRONMENT_NAME|prune)$`));
        for (const bad of ['$CI_JOB_TOKEN', 'a${X}', 'a b', '/a', 'a/', 'a//b']) expect(re?.test(bad), `${where}: ${bad}`).toBe(false);
      } else if (key === 'extends') {
        // A hidden job's name: only a value from a closed list, each of which names a job of this file.
        expect(input.options, `${where}: extends takes an input only from a list of options`).toBeDefined();
        for (const option of input.options as string[]) expect(jobs, `${where}: ${option}`).toHaveProperty([value.replace(INPUT_RE, option)]);
      } else {
        expect.fail(`${where}: an input may only land in variables, stage, id_tokens aud, environment auto_stop_in, resource_group or extends`);
      }
    }
    expect([...placed].sort()).toEqual(Object.keys(inputs).sort());
  });

  it('runs fixed commands only: no input, no variable in any script line', () => {
    for (const name of HIDDEN_JOBS) {
      for (const key of ['before_script', 'script', 'after_script']) {
        for (const line of jobs[name][key] ?? []) {
          expect(typeof line, `${name}.${key}`).toBe('string');
          expect(line, `${name}.${key}`).toMatch(/^gestalt-deploy [a-z]+$/);
        }
      }
    }
  });
});

describe('templates/deploy.gitlab-ci.yml: hidden jobs', () => {
  it('defines exactly the hidden jobs and nothing global (including it changes no other job)', () => {
    expect(Object.keys(jobs).sort()).toEqual([...HIDDEN_JOBS, ...TIER_JOBS].sort());
    for (const name of TIER_JOBS) expect(Object.keys(jobs[name]).filter((k) => k !== 'environment'), `${name} only sets the tier`).toEqual([]);
  });

  it('environment_tier: auto leaves the tier to GitLab, every other option sets environment:deployment_tier', () => {
    expect(inputs.environment_tier.options).toEqual(['auto', ...TIERS]);
    const values = (tier: string) => ({ ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.default])), environment_tier: tier });
    expect(resolveJob([defaults], '.gestalt-deploy').environment.deployment_tier).toBeUndefined();
    for (const tier of TIERS) {
      const job = resolveJob([interpolate(jobs, values(tier))], '.gestalt-deploy');
      expect(job.environment, tier).toEqual({ deployment_tier: tier, url: '$GESTALT_ENVIRONMENT_URL', auto_stop_in: 'never' });
      // A job's own tier wins over the input's (extends merges the job's keys last).
      const user = parseCiYaml('deploy:\n  extends: .gestalt-deploy\n  environment: { name: production, deployment_tier: production }\n')[0];
      expect(resolveJob([interpolate(jobs, values(tier)), user], 'deploy').environment.deployment_tier).toBe('production');
    }
  });

  it('auto_stop_in: never by default; takes GitLab durations and nothing else', () => {
    expect(inputs.auto_stop_in.default).toBe('never');
    const re = new RegExp(inputs.auto_stop_in.regex);
    for (const ok of ['never', '1 week', '2 days', '30 minutes', '1h 30min', '1 day and 12 hours', '3 days, 4 hours', '90m', '1 month']) expect(re.test(ok), ok).toBe(true);
    for (const bad of ['', 'soon', '1', 'week', '1 fortnight', '$TTL', '1 day; touch x', '1 day\n2 days', ' 1 day', 'never never']) expect(re.test(bad), JSON.stringify(bad)).toBe(false);
    expect(inputs.auto_stop_in.regex).not.toMatch(/\(\?[=!<]|\\[1-9]/);
  });

  it('resource_group_prefix: the default keeps the group the template always used', () => {
    expect(defaults['.gestalt-deploy'].resource_group).toBe('gestalt-deploy/$CI_ENVIRONMENT_NAME');
    const re = new RegExp(inputs.resource_group_prefix.regex);
    for (const ok of ['gestalt-deploy', 'acme/deploys', 'team_a.lambdas', 'a/b/c']) expect(re.test(ok), ok).toBe(true);
  });

  it('runs every job in the pinned image, with an entrypoint GitLab can use, and requests the ID token', () => {
    for (const name of HIDDEN_JOBS) {
      const job = defaults[name];
      expect(job.image, name).toEqual({ name: '$GESTALT_IMAGE', entrypoint: [''] });
      expect(job.variables.GESTALT_IMAGE, name).toEqual({ value: `registry.gitlab.com/gestalt-deploy/gestalt-deploy:${version}`, expand: false });
      expect(job.id_tokens, name).toEqual({ GESTALT_ID_TOKEN: { aud: '$CI_SERVER_URL' } });
    }
  });

  it('.gestalt-deploy: runs deploy, keeps the reports the runner writes, and takes the environment URL from the dotenv report', () => {
    const deploy = defaults['.gestalt-deploy'];
    expect(deploy.stage).toBe('deploy');
    expect(deploy.script).toEqual(['gestalt-deploy deploy']);
    expect(deploy.artifacts).toEqual({
      when: 'always',
      paths: [REPORT_FILES.json],
      reports: { dotenv: REPORT_FILES.env, annotations: REPORT_FILES.annotations },
    });
    expect(deploy.environment).toEqual({ url: '$GESTALT_ENVIRONMENT_URL', auto_stop_in: 'never' });
    expect(deploy.when).toBeUndefined();
  });

  it('.gestalt-deploy, .gestalt-stop and .gestalt-verify share one resource_group per environment, whatever the job is called', () => {
    const group = defaults['.gestalt-deploy'].resource_group;
    expect(defaults['.gestalt-stop'].resource_group).toBe(group);
    expect(defaults['.gestalt-verify'].resource_group, 'a failed verify may roll back').toBe(group);
    expect(group).toContain('$CI_ENVIRONMENT_NAME');
    expect(group, 'not per job or pipeline').not.toMatch(/CI_JOB_|CI_PIPELINE_|CI_COMMIT_/);
    // GitLab: letters, digits, -, _, /, $, {, }, . and spaces; not starting or ending with /.
    expect(group).toMatch(/^[A-Za-z0-9_\-${}. ][A-Za-z0-9_\-/${}. ]*[A-Za-z0-9_\-${}. ]$/);
    expect(jobs['.gestalt-plan'].resource_group, 'a plan changes nothing and waits for nobody').toBeUndefined();
  });

  it('.gestalt-stop: stop with no checkout, manual, allowed to fail, environment action stop and no url', () => {
    const stop = defaults['.gestalt-stop'];
    expect(stop.stage).toBe(defaults['.gestalt-deploy'].stage);
    expect(stop.script).toEqual(['gestalt-deploy stop']);
    expect(stop.variables.GIT_STRATEGY).toBe('none');
    expect(stop.dependencies, 'no artifacts to download either').toEqual([]);
    expect(stop.environment).toEqual({ action: 'stop' });
    expect(JSON.stringify(stop), 'no url anywhere in the stop job').not.toContain('url');
    expect(stop.when).toBe('manual');
    expect(stop.allow_failure).toBe(true);
    expect(stop.artifacts.when).toBe('always');
    expect(stop.artifacts.paths).toEqual([REPORT_FILES.json]);
  });

  it('.gestalt-verify: verify with no checkout, keeping its report, environment action verify and no url', () => {
    const verify = defaults['.gestalt-verify'];
    expect(verify.stage).toBe(defaults['.gestalt-deploy'].stage);
    expect(verify.script).toEqual(['gestalt-deploy verify']);
    expect(verify.variables.GIT_STRATEGY).toBe('none');
    expect(verify.dependencies).toEqual([]);
    expect(verify.environment).toEqual({ action: 'verify' });
    expect(verify.artifacts).toEqual({ when: 'always', paths: [REPORT_FILES.verify] });
    expect(verify.when, 'runs after the deploy it needs').toBeUndefined();
  });

  it('.gestalt-plan: a dry run in merge request pipelines that keeps its report and creates no deployment', () => {
    const plan = defaults['.gestalt-plan'];
    expect(plan.stage).toBe('test');
    expect(plan.script).toEqual(['gestalt-deploy plan']);
    expect(plan.artifacts).toEqual({ when: 'always', paths: [REPORT_FILES.plan] });
    expect(plan.environment).toEqual({ action: 'prepare' });
    expect(plan.rules).toEqual([{ if: '$CI_PIPELINE_SOURCE == "merge_request_event"' }]);
    expect(plan.interruptible).toBe(true);
  });

  it('keeps the runner call composable: !reference [.gestalt-deploy, script] brings it into a job that has its own script', () => {
    const user = parseCiYaml('deploy:\n  extends: .gestalt-deploy\n  script:\n    - ./before.sh\n    - !reference [.gestalt-deploy, script]\n    - ./after.sh\n')[0];
    expect(user.deploy.script[1]).toBeInstanceOf(Reference);
    const job = resolveJob([defaults, user], 'deploy');
    expect(job.script).toEqual(['./before.sh', 'gestalt-deploy deploy', './after.sh']);
    // extends replaces arrays: without the reference the call would be gone, which is why the README shows it.
    const lost = resolveJob([defaults, parseCiYaml('deploy:\n  extends: .gestalt-deploy\n  script: [./mine.sh]\n')[0]], 'deploy');
    expect(lost.script).toEqual(['./mine.sh']);
  });

  it('merges with a job through extends: environment name from the job, url and reports from the template', () => {
    const user = parseCiYaml('deploy:\n  extends: .gestalt-deploy\n  variables: { LAMBDA_RUNTIME: nodejs }\n  environment: { name: review/$CI_COMMIT_REF_SLUG, on_stop: stop }\n')[0];
    const job = resolveJob([defaults, user], 'deploy');
    expect(job.environment).toEqual({ url: '$GESTALT_ENVIRONMENT_URL', auto_stop_in: 'never', name: 'review/$CI_COMMIT_REF_SLUG', on_stop: 'stop' });
    expect(Object.keys(job.variables).sort()).toEqual(['GESTALT_IMAGE', 'LAMBDA_RUNTIME']);
  });
});
