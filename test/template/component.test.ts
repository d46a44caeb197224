// The CI/CD component templates/deploy.yml: generated from the template (a test that fails on drift), laid out and
// shaped as GitLab's component rules ask, and included through gitlab-ci-local both ways it supports: a released
// version of another project (seeded in its include cache; it fetches components with git from the project's own
// host, which tests do not have) and the same project at the current commit (`@$CI_COMMIT_SHA`, read from the checkout).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { COMPONENT_NAME, COMPONENT_PROJECT, gcl, jobResults, makeBinDir, makeRepo, removeDir, seedComponent } from '../support/stack-pipeline.js';
import { REPO_ROOT } from '../support/template-server.js';
import { parseCiYaml, readTemplate } from './ci-yaml.js';
import type { Json } from './ci-yaml.js';

const COMPONENT = join(REPO_ROOT, `templates/${COMPONENT_NAME}.yml`);
// GitLab: global keywords in a component would change every job of the including pipeline.
const GLOBAL_KEYWORDS = ['default', 'stages', 'variables', 'workflow', 'image', 'services', 'cache', 'before_script', 'after_script'];

let version: string;
let text: string;
let docs: Json[];
const dirs: string[] = [];

beforeAll(async () => {
  version = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).version;
  text = await readFile(COMPONENT, 'utf8');
  docs = parseCiYaml(text, `templates/${COMPONENT_NAME}.yml`);
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => removeDir(d)));
});

function componentScript(args: string[], cwd = REPO_ROOT) {
  return spawnSync(process.execPath, [join(cwd, 'scripts/component.mjs'), ...args], { encoding: 'utf8' });
}

describe('templates/deploy.yml is generated from templates/deploy.gitlab-ci.yml', () => {
  it('is exactly what scripts/component.mjs writes (npm run component)', () => {
    const r = componentScript(['--check']);
    expect(r.status, `${r.stderr}\ntemplates/deploy.yml is stale: run npm run component`).toBe(0);
  });

  it('the check fails when the template changes and the component is not regenerated, and regenerating fixes it', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'gestalt-component-'));
    dirs.push(copy);
    await mkdir(join(copy, 'scripts'));
    await cp(join(REPO_ROOT, 'scripts/component.mjs'), join(copy, 'scripts/component.mjs'));
    await cp(join(REPO_ROOT, 'templates'), join(copy, 'templates'), { recursive: true });
    await symlink(join(REPO_ROOT, 'node_modules'), join(copy, 'node_modules'));
    const template = join(copy, 'templates/deploy.gitlab-ci.yml');
    await writeFile(template, (await readFile(template, 'utf8')).replace('default: deploy\n', 'default: ship\n'));

    const stale = componentScript(['--check'], copy);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('templates/deploy.yml differs from what templates/deploy.gitlab-ci.yml gives; run `npm run component`.');
    expect(componentScript([], copy).status).toBe(0);
    expect(componentScript(['--check'], copy).status).toBe(0);
    expect(await readFile(join(copy, 'templates/deploy.yml'), 'utf8')).toContain('default: ship\n');
  });

  it('--release VERSION (the release job) also insists that the component runs the image of that release', () => {
    expect(componentScript(['--release', version]).status).toBe(0);
    const other = componentScript(['--release', '99.0.0']);
    expect(other.status).toBe(1);
    expect(other.stderr).toContain(`templates/deploy.yml runs image registry.gitlab.com/gestalt-deploy/gestalt-deploy:${version}, not the image of release 99.0.0`);
  });

  it('differs from the template only in its leading comment: the same inputs, checks and jobs', async () => {
    const template = await readTemplate();
    expect(text.slice(text.search(/^spec:/m))).toBe(template.text.slice(template.text.search(/^spec:/m)));
    expect(docs).toEqual([template.spec, template.jobs]);
  });

  it('shows an include of this component pinned to this release, and says where it comes from', () => {
    const pins = [...text.matchAll(/component: \$CI_SERVER_FQDN\/([^@\s]+)@(\S+)/g)];
    expect(pins.length).toBeGreaterThan(0);
    for (const [, path, pin] of pins) {
      expect(path).toBe(`${COMPONENT_PROJECT}/${COMPONENT_NAME}`);
      expect(pin).toBe(version);
    }
    expect(text).toContain('Generated from templates/deploy.gitlab-ci.yml by scripts/component.mjs');
    expect(text, 'the component shows the component form, not the remote one').not.toContain('- remote:');
  });
});

describe("templates/: GitLab's component layout", () => {
  const components = (): { name: string; file: string }[] =>
    readdirSync(join(REPO_ROOT, 'templates')).flatMap((entry) => {
      const path = join(REPO_ROOT, 'templates', entry);
      if (statSync(path).isDirectory()) return [{ name: entry, file: join(path, 'template.yml') }];
      return entry.endsWith('.yml') ? [{ name: entry.slice(0, -'.yml'.length), file: path }] : [];
    });

  it('holds only components (templates/<name>.yml or templates/<name>/template.yml), well within the per-project limit', () => {
    const found = components();
    expect(found.map((c) => c.name).sort()).toEqual(['deploy', 'deploy.gitlab-ci']);
    // 30 up to GitLab 18.4, 100 from 18.5.
    expect(found.length).toBeLessThanOrEqual(30);
    for (const entry of readdirSync(join(REPO_ROOT, 'templates'))) expect(entry, 'nothing else in templates/').toMatch(/\.yml$/);
  });

  it.each(['deploy', 'deploy.gitlab-ci'])('%s: a spec header GitLab can publish (typed, described inputs only) and no global keywords', async (name) => {
    const [header, jobs] = parseCiYaml(await readFile(join(REPO_ROOT, `templates/${name}.yml`), 'utf8'), name);
    expect(Object.keys(header.spec)).toEqual(['inputs']);
    for (const [input, spec] of Object.entries(header.spec.inputs as Record<string, Json>)) {
      expect(Object.keys(spec).every((k) => ['type', 'description', 'default', 'options', 'regex'].includes(k)), input).toBe(true);
    }
    for (const key of GLOBAL_KEYWORDS) expect(jobs, `${name}: global ${key}`).not.toHaveProperty([key]);
    for (const job of Object.keys(jobs)) expect(job, `${name}: only hidden jobs, so including it adds no job`).toMatch(/^\./);
  });
});

describe('the component through gitlab-ci-local', { timeout: 90_000 }, () => {
  let bin: string;
  let record: string;
  beforeAll(async () => {
    record = await mkdtemp(join(tmpdir(), 'gestalt-component-calls-'));
    dirs.push(record);
    bin = await makeBinDir(`out=${JSON.stringify(record)}\nprintf '%s\\0' "$@" > "$out/$1.args"\nenv -0 > "$out/$1.env"`);
    dirs.push(bin);
  });

  async function seen(command: string): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    for (const entry of (await readFile(join(record, `${command}.env`), 'utf8')).split('\0')) {
      const i = entry.indexOf('=');
      if (i > 0) env[entry.slice(0, i)] = entry.slice(i + 1);
    }
    return env;
  }

  const jobs = {
    deploy: { extends: '.gestalt-deploy', environment: { name: 'review/component', on_stop: 'stop' } },
    stop: { extends: '.gestalt-stop', environment: { name: 'review/component' } },
  };

  it('a released version, included by `$CI_SERVER_FQDN/<project>/deploy@<version>` with inputs, gives its jobs', async () => {
    const include = { component: `$CI_SERVER_FQDN/${COMPONENT_PROJECT}/${COMPONENT_NAME}@${version}`, inputs: { stage: 'ship', environment_tier: 'development', auto_stop_in: '1 week' } };
    const dir = await makeRepo({ files: { '.gitlab-ci.yml': stringify({ include: [include], stages: ['ship'], ...jobs }, { lineWidth: 0 }) }, projectPath: 'acme/lambdas' });
    dirs.push(dir);
    await seedComponent(dir, version);

    const run = await gcl(dir, ['deploy', 'stop'], { bin, fetchIncludes: false });
    expect(run.code, run.output).toBe(0);
    expect(jobResults(run.output).passed.sort()).toEqual(['deploy', 'stop']);
    const deploy = await seen('deploy');
    expect(deploy.GESTALT_IMAGE, 'the image of the release the component belongs to').toBe(`registry.gitlab.com/gestalt-deploy/gestalt-deploy:${version}`);
    expect(deploy.CI_JOB_STAGE).toBe('ship');
    expect(deploy.CI_ENVIRONMENT_TIER).toBe('development');
    expect((await seen('stop')).GIT_STRATEGY).toBe('none');

    const preview = await gcl(dir, ['--preview'], { fetchIncludes: false });
    expect(preview.code, preview.output).toBe(0);
    const merged = parse(preview.stdout.slice(preview.stdout.indexOf('---\n')));
    expect(merged.deploy.environment).toMatchObject({ auto_stop_in: '1 week', deployment_tier: 'development' });
    expect(merged.deploy.id_tokens).toEqual({ GESTALT_ID_TOKEN: { aud: '$CI_SERVER_URL' } });
  });

  it('is a test that can fail: the cached file is what gitlab-ci-local includes (one whose stage input has no default is refused)', async () => {
    const include = { component: `$CI_SERVER_FQDN/${COMPONENT_PROJECT}/${COMPONENT_NAME}@${version}` };
    const dir = await makeRepo({ files: { '.gitlab-ci.yml': stringify({ include: [include], ...jobs }) } });
    dirs.push(dir);
    await seedComponent(dir, version, text.replace(/(\n {4}stage:\n(?: {6}.*\n)*?) {6}default: deploy\n/, '$1'));
    const run = await gcl(dir, ['deploy'], { bin, fetchIncludes: false });
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/`stage` input: required value has not been provided/);
    expect(run.output).not.toMatch(/deploy\s+starting/);
  });

  it('the same project at the current commit (`@$CI_COMMIT_SHA`) reads templates/deploy.yml from the checkout', async () => {
    // A project that is gestalt-deploy itself: its remote names COMPONENT_PROJECT, as in the project's own pipeline.
    const include = { component: `$CI_SERVER_FQDN/$CI_PROJECT_PATH/${COMPONENT_NAME}@$CI_COMMIT_SHA`, inputs: { resource_group_prefix: 'self-test' } };
    const dir = await makeRepo({
      files: { '.gitlab-ci.yml': stringify({ include: [include], ...jobs }), [`templates/${COMPONENT_NAME}.yml`]: text },
      projectPath: COMPONENT_PROJECT,
    });
    dirs.push(dir);
    const preview = await gcl(dir, ['--preview']);
    expect(preview.code, preview.output).toBe(0);
    const merged = parse(preview.stdout.slice(preview.stdout.indexOf('---\n')));
    expect(merged.deploy.resource_group).toBe('self-test/$CI_ENVIRONMENT_NAME');
    expect(merged.stop.variables.GESTALT_IMAGE).toBe(`registry.gitlab.com/gestalt-deploy/gestalt-deploy:${version}`);
    expect(await readdir(join(dir, '.gitlab-ci-local')), 'nothing was fetched').not.toContain('includes');
  });
});
