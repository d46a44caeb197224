// Inputs through gitlab-ci-local: the template included by `include: remote:` with no inputs, with hostile values
// in every free-form input (they must arrive literally and execute nothing), and with bad values (gitlab-ci-local
// must refuse them, naming the input, before any job runs). The runner is replaced by a stub that records its
// arguments and environment, so what reaches it is exactly what the template passed.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { gcl, jobResults, makeBinDir, makeRepo, removeDir } from '../support/stack-pipeline.js';
import { startTemplateServer } from '../support/template-server.js';
import type { TemplateServer } from '../support/template-server.js';
import { readTemplate } from './ci-yaml.js';

const JOB_TOKEN = 'glcbt-64_job-token-must-not-leak';
const SECRET = 'gf-secret-must-not-leak-42';

let server: TemplateServer;
let work: string;
let record: string;
let bin: string;
const dirs: string[] = [];

beforeAll(async () => {
  server = await startTemplateServer();
  work = await mkdtemp(join(tmpdir(), 'gestalt-inputs-'));
  record = join(work, 'calls');
  await mkdir(record);
  // Records each call: argv (NUL-separated) and the environment (env -0) it ran with.
  bin = await makeBinDir(`out=${JSON.stringify(record)}\nprintf '%s\\0' "$@" > "$out/$1.args"\nenv -0 > "$out/$1.env"`);
});

afterAll(async () => {
  await server?.close();
  await Promise.all([work, bin, ...dirs].map((d) => removeDir(d)));
});

async function project(ci: object): Promise<string> {
  const dir = await makeRepo({ files: { '.gitlab-ci.yml': stringify(ci, { lineWidth: 0 }) } });
  dirs.push(dir);
  // A project secret, as a masked CI/CD variable would be.
  await writeFile(join(dir, '.gitlab-ci-local-variables.yml'), stringify({ GF_API_SECRET: SECRET }));
  return dir;
}

async function calls(): Promise<Record<string, { args: string[]; env: Record<string, string> }>> {
  const out: Record<string, { args: string[]; env: Record<string, string> }> = {};
  for (const f of (await readdir(record)).filter((n) => n.endsWith('.args'))) {
    const command = f.slice(0, -'.args'.length);
    const args = (await readFile(join(record, f), 'utf8')).split('\0').slice(0, -1);
    const env: Record<string, string> = {};
    for (const entry of (await readFile(join(record, `${command}.env`), 'utf8')).split('\0')) {
      const i = entry.indexOf('=');
      if (i > 0) env[entry.slice(0, i)] = entry.slice(i + 1);
    }
    out[command] = { args, env };
  }
  return out;
}

async function clearCalls(): Promise<void> {
  for (const f of await readdir(record)) await removeDir(join(record, f));
}

const jobs = (environment: string) => ({
  deploy: { extends: '.gestalt-deploy', environment: { name: environment } },
  stop: { extends: '.gestalt-stop', environment: { name: environment } },
  plan: { extends: '.gestalt-plan', environment: { name: environment } },
});

/** A value meant to run commands, expand variables and break quoting and lines, wherever it is pasted. */
function hostile(tag: string, marker: string): string {
  return `${tag} $(touch ${marker}-dollar) \`touch ${marker}-backtick\` \${CI_JOB_TOKEN} $GF_API_SECRET '"; touch ${marker}-quote; echo "'\ntouch ${marker}-newline #`;
}

describe('the template through gitlab-ci-local', { timeout: 90_000 }, () => {
  it('works from include: remote: with no inputs: default image, stages and commands', async () => {
    await clearCalls();
    const dir = await project({ include: [{ remote: server.templateUrl }], ...jobs('review/plain') });
    const run = await gcl(dir, ['deploy', 'stop', 'plan'], { bin, variables: { CI_PIPELINE_SOURCE: 'merge_request_event' } });
    expect(run.code, run.output).toBe(0);
    expect(jobResults(run.output).passed.sort()).toEqual(['deploy', 'plan', 'stop']);
    expect(server.requests).toContain('/templates/deploy.gitlab-ci.yml');
    const { spec } = await readTemplate();
    const seen = await calls();
    for (const [command, stage] of [['deploy', 'deploy'], ['stop', 'deploy'], ['plan', 'test']] as const) {
      expect(seen[command]?.args, command).toEqual([command]);
      expect(seen[command]?.env.GESTALT_IMAGE, command).toBe(spec.spec.inputs.image.default);
      expect(seen[command]?.env.CI_JOB_STAGE, command).toBe(stage);
      expect(seen[command]?.env.CI_ENVIRONMENT_NAME, command).toBe('review/plain');
    }
    expect(seen.stop?.env.GIT_STRATEGY).toBe('none');
    expect(seen.stop?.env.CI_ENVIRONMENT_ACTION).toBe('stop');
    expect(seen.plan?.env.CI_ENVIRONMENT_ACTION).toBe('prepare');

    const preview = await gcl(dir, ['--preview']);
    expect(preview.code, preview.output).toBe(0);
    const merged = parse(preview.stdout.slice(preview.stdout.indexOf('---\n')));
    expect(merged.deploy.id_tokens).toEqual({ GESTALT_ID_TOKEN: { aud: '$CI_SERVER_URL' } });
    expect(merged.stop.resource_group).toBe(merged.deploy.resource_group);
  });

  it('environment_tier, auto_stop_in and resource_group_prefix reach the jobs: tier, auto-stop and resource group as given', async () => {
    await clearCalls();
    const inputs = { environment_tier: 'staging', auto_stop_in: '2 days', resource_group_prefix: 'acme/lambdas' };
    const dir = await project({ include: [{ remote: server.templateUrl, inputs }], ...jobs('review/tiered') });
    const run = await gcl(dir, ['deploy', 'stop'], { bin });
    expect(run.code, run.output).toBe(0);
    const seen = await calls();
    expect(seen.deploy?.env.CI_ENVIRONMENT_TIER).toBe('staging');
    const preview = await gcl(dir, ['--preview']);
    expect(preview.code, preview.output).toBe(0);
    const merged = parse(preview.stdout.slice(preview.stdout.indexOf('---\n')));
    expect(merged.deploy.environment).toMatchObject({ name: 'review/tiered', deployment_tier: 'staging', auto_stop_in: '2 days' });
    expect(merged.deploy.resource_group).toBe('acme/lambdas/$CI_ENVIRONMENT_NAME');
    expect(merged.stop.resource_group).toBe('acme/lambdas/$CI_ENVIRONMENT_NAME');
    expect(merged.stop.environment.deployment_tier, 'the tier is the deploy job\'s business').toBeUndefined();

    // Without inputs GitLab infers the tier from the environment name: the template sets none.
    await clearCalls();
    const plain = await project({ include: [{ remote: server.templateUrl }], ...jobs('review/untiered') });
    const untiered = await gcl(plain, ['deploy'], { bin });
    expect(untiered.code, untiered.output).toBe(0);
    expect((await calls()).deploy?.env.CI_ENVIRONMENT_TIER).toBe('');
  });

  it('passes hostile values in every free-form input literally: nothing runs, nothing expands, nothing leaks', async () => {
    await clearCalls();
    const marker = join(work, 'PWNED');
    const { spec } = await readTemplate();
    const freeForm = Object.entries(spec.spec.inputs as Record<string, { type: string; regex?: string; options?: unknown[] }>)
      .filter(([, v]) => v.type === 'string' && !v.regex && !v.options)
      .map(([k]) => k);
    // The others are checked against a pattern (see the refusals below).
    expect(freeForm).toEqual(['image']);
    const values = Object.fromEntries(freeForm.map((k) => [k, hostile(k, marker)]));
    const dir = await project({ include: [{ remote: server.templateUrl, inputs: values }], ...jobs('review/hostile') });

    const run = await gcl(dir, ['deploy', 'stop', 'plan'], { bin, variables: { CI_PIPELINE_SOURCE: 'merge_request_event', CI_JOB_TOKEN: JOB_TOKEN } });
    expect(run.code, run.output).toBe(0);
    expect(jobResults(run.output).passed.sort()).toEqual(['deploy', 'plan', 'stop']);
    const made = (await readdir(work)).filter((f) => f.startsWith('PWNED'));
    expect(made, 'a hostile input ran a command').toEqual([]);

    const seen = await calls();
    for (const command of ['deploy', 'stop', 'plan']) {
      const call = seen[command];
      expect(call?.args, command).toEqual([command]);
      expect(call?.env.GESTALT_IMAGE, `${command}: the image input arrives literally`).toBe(values.image);
      for (const [name, value] of Object.entries(call?.env ?? {})) {
        if (name === 'CI_JOB_TOKEN' || name === 'GF_API_SECRET') continue;
        expect(value, `${command}: ${name} carries the job token`).not.toContain(JOB_TOKEN);
        expect(value, `${command}: ${name} carries the secret`).not.toContain(SECRET);
      }
    }
    expect(run.output).not.toContain(JOB_TOKEN);
    expect(run.output).not.toContain(SECRET);
  });

  it('is a test that can fail: the same values spliced into a script line, or into an expanding variable, do harm', async () => {
    await clearCalls();
    const marker = join(work, 'NAIVE');
    const root = join(work, 'naive');
    await mkdir(join(root, 'templates'), { recursive: true });
    await writeFile(
      join(root, 'templates/naive.yml'),
      'spec:\n  inputs:\n    image:\n      default: x\n---\n.naive:\n  variables:\n    NAIVE_IMAGE: $[[ inputs.image ]]\n  script:\n    - echo $[[ inputs.image ]]\n    - gestalt-deploy naive\n',
    );
    const naive = await startTemplateServer({ root });
    try {
      const value = hostile('image', marker);
      const dir = await project({ include: [{ remote: `${naive.url}/templates/naive.yml`, inputs: { image: value } }], job: { extends: '.naive' } });
      const run = await gcl(dir, ['job'], { bin, variables: { CI_JOB_TOKEN: JOB_TOKEN } });
      expect(run.output).toContain('job');
      expect(existsSync(`${marker}-dollar`), 'spliced into script, $(…) runs').toBe(true);
      expect((await calls()).naive?.env.NAIVE_IMAGE, 'an expanding variable takes in the job token').toContain(JOB_TOKEN);
    } finally {
      await naive.close();
    }
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['id_token_audience', { id_token_audience: '$(touch BAD)' }, /`id_token_audience` input: `\$\(touch BAD\)` does not match required regex/],
    ['id_token_audience', { id_token_audience: '${CI_JOB_TOKEN}' }, /`id_token_audience` input: .* does not match required regex/],
    ['id_token_audience', { id_token_audience: ['https://a', 'https://b'] }, /`id_token_audience` input: provided value is not a string/],
    ['stage', { stage: 42 }, /`stage` input: provided value is not a string/],
    ['stage', { stage: 'deploy$(touch BAD)' }, /`stage` input: .* does not match required regex/],
    ['plan_stage', { plan_stage: 'test ${GF_API_SECRET}' }, /`plan_stage` input: [\s\S]* does not match required regex/],
    ['plan_stage', { plan_stage: 'test\ntouch BAD' }, /`plan_stage` input: [\s\S]* does not match required regex/],
    ['image', { image: true }, /`image` input: provided value is not a string/],
    ['environment_tier', { environment_tier: 'prod' }, /`environment_tier` input: `prod` cannot be used because it is not in the list of allowed options/],
    ['environment_tier', { environment_tier: 'production $(touch BAD)' }, /`environment_tier` input: .* cannot be used because it is not in the list of allowed options/],
    ['auto_stop_in', { auto_stop_in: '1 day $CI_JOB_TOKEN' }, /`auto_stop_in` input: .* does not match required regex/],
    ['auto_stop_in', { auto_stop_in: 7 }, /`auto_stop_in` input: provided value is not a string/],
    ['resource_group_prefix', { resource_group_prefix: 'x/${CI_JOB_TOKEN}' }, /`resource_group_prefix` input: .* does not match required regex/],
    ['resource_group_prefix', { resource_group_prefix: '/leading' }, /`resource_group_prefix` input: .* does not match required regex/],
  ];

  it.each(bad)('refuses a bad %s before any job runs, naming the input (%j)', async (_name, inputs, message) => {
    await clearCalls();
    const dir = await project({ include: [{ remote: server.templateUrl, inputs }], ...jobs('review/bad') });
    const run = await gcl(dir, ['deploy'], { bin });
    expect(run.code, run.output).not.toBe(0);
    expect(run.output).toMatch(message);
    expect(run.output).not.toMatch(/deploy\s+starting/);
    expect(await calls()).toEqual({});
    expect(existsSync(join(dir, 'BAD'))).toBe(false);
  });
});
