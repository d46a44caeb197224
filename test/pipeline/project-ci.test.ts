// The project's own .gitlab-ci.yml: valid against GitLab's CI schema, the right jobs for branches and semver tags,
// and every job whose script can run without a GitLab instance or a registry run through gitlab-ci-local 4.73.0 in
// a copy of the repository (docs/testing.md, "gitlab-ci-local"). The image jobs need buildah and a registry:
// test/image/release-pipeline.test.ts runs them (`npm run test:image`).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  cleanCheckout,
  copyRepository,
  gitlabCiSchemaValidator,
  parseCiYaml,
  ROOT,
  runGitlabCiLocal,
  startPackageRegistry,
  type PackageRegistry,
  type Repository,
} from './project-ci-support.js';

const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { version: string };
const REGISTRY_IMAGE = 'registry.gitlab.example.com/gestalt-deploy/gestalt-deploy';
const DIGEST = `sha256:${createHash('sha256').update('a manifest list').digest('hex')}`;
const JOB_TIMEOUT = 240_000;

interface CiJob {
  trigger?: unknown;
  needs?: unknown;
  variables?: Record<string, string>;
  id_tokens?: unknown;
  environment?: unknown;
}
type CiConfig = Record<string, CiJob | undefined> & { variables?: unknown };

let repo: Repository;
beforeAll(async () => {
  repo = await copyRepository();
}, 60_000);
afterAll(async () => {
  await repo?.remove();
});

describe('.gitlab-ci.yml against GitLab CI/CD schema', () => {
  const validate = gitlabCiSchemaValidator();

  it.each(['.gitlab-ci.yml', '.gitlab/template-check.gitlab-ci.yml'])('%s is valid', (file) => {
    const valid = validate(parseCiYaml(readFileSync(resolve(ROOT, file), 'utf8')));
    expect(validate.errors ?? [], file).toEqual([]);
    expect(valid).toBe(true);
  });

  it('rejects what GitLab rejects (the validator is not a no-op)', () => {
    expect(validate(parseCiYaml('job:\n  script: [true]\n  when: sometimes\n'))).toBe(false);
    expect(validate(parseCiYaml('job:\n  script: x\n  release:\n    description: x\n'))).toBe(false);
  });
});

describe('pipeline shape (gitlab-ci-local --list)', () => {
  const list = async (...variables: string[]): Promise<string[]> => {
    const r = await runGitlabCiLocal(repo, ['--list', ...variables.flatMap((v) => ['--variable', v])]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('json schema validated');
    return r.output
      .split('\n')
      .slice(r.output.split('\n').findIndex((l) => l.startsWith('name')) + 1)
      .map((l) => l.split(/\s+/)[0] ?? '')
      .filter(Boolean);
  };

  it('a branch pipeline checks, bundles, builds the image, checks the template and self-tests the component; it releases nothing', async () => {
    expect(await list()).toEqual(['lint', 'typecheck', 'test', 'bundle', 'image-build', 'template-check', 'component-self-test']);
  });

  it('a semver tag pipeline adds the image version tags, the pinned template and the release', async () => {
    for (const tag of ['1.2.3', '2.0.0-rc.1']) {
      expect(await list(`CI_COMMIT_TAG=${tag}`), tag).toEqual([
        'lint',
        'typecheck',
        'test',
        'bundle',
        'image-build',
        'template-check',
        'component-self-test',
        'image-release',
        'template-release',
        'release',
      ]);
    }
  });

  it('a tag that is not a bare semver version releases nothing (the CI/CD Catalog refuses v1.2.3)', async () => {
    for (const tag of ['nightly', 'v1.2.3']) expect(await list(`CI_COMMIT_TAG=${tag}`), tag).not.toContain('release');
  });

  it('the self-test jobs exist only where scripts/self-test.mjs runs them', async () => {
    const jobs = await list('PIPELINE_SELF_TEST=local');
    for (const job of ['self-test-deploy', 'self-test-verify', 'self-test-stop']) expect(jobs, job).toContain(job);
    expect(await list()).not.toContain('self-test-deploy');
  });
});

describe('jobs run by gitlab-ci-local (shell executor, clean checkout per job)', () => {
  it(
    'test: the suite passes (TEST_FILTER narrows it to one fast file, so it does not run this file again)',
    async () => {
      await cleanCheckout(repo);
      const r = await runGitlabCiLocal(repo, ['test', '--variable', 'TEST_FILTER=test/image/release-template.test.ts']);
      expect(r.code, r.output.slice(-4000)).toBe(0);
      expect(r.output).toMatch(/PASS\s+test/);
      expect(r.output).toMatch(/Tests\s+\S*\s*\d+ passed/);
    },
    JOB_TIMEOUT,
  );

  it(
    'bundle: builds dist/gestalt-deploy.js and checks its --version',
    async () => {
      await cleanCheckout(repo);
      const r = await runGitlabCiLocal(repo, ['bundle']);
      expect(r.code, r.output.slice(-4000)).toBe(0);
      expect(r.output).toMatch(/PASS\s+bundle/);
      expect(existsSync(join(repo.dir, 'dist/gestalt-deploy.js'))).toBe(true);
    },
    JOB_TIMEOUT,
  );

  it(
    'template-check: the child pipeline includes the template from the same commit and runs its jobs',
    async () => {
      // gitlab-ci-local cannot start a trigger job by name (the child pipeline inherits the job filter), so the child
      // configuration runs as its own pipeline with what the trigger job hands it: the parent's global variables
      // and the trigger job's variables, unexpanded, as GitLab forwards them.
      const ci = parseCiYaml(readFileSync(resolve(ROOT, '.gitlab-ci.yml'), 'utf8')) as CiConfig;
      const trigger = ci['template-check'];
      expect(trigger?.trigger).toEqual({ include: '.gitlab/template-check.gitlab-ci.yml', strategy: 'depend' });
      expect(trigger?.needs).toEqual([{ job: 'image-build' }]);
      const forwarded = { ...(ci.variables as Record<string, string>), ...(trigger?.variables ?? {}) };

      // The child's jobs run the image's `gestalt-deploy`; here that is the bundle from the bundle job on PATH.
      const bin = join(repo.home, 'bin');
      await mkdir(bin, { recursive: true });
      const bundle = join(repo.home, 'gestalt-deploy.js');
      await writeFile(bundle, await readFile(join(repo.dir, 'dist/gestalt-deploy.js')));
      await writeFile(join(bin, 'gestalt-deploy'), `#!/bin/sh\nexec node ${bundle} "$@"\n`);
      await chmod(join(bin, 'gestalt-deploy'), 0o755);
      await cleanCheckout(repo);
      const r = await runGitlabCiLocal(
        repo,
        [
          '--file',
          '.gitlab/template-check.gitlab-ci.yml',
          '--variable',
          'CI_PIPELINE_SOURCE=parent_pipeline',
          ...Object.entries(forwarded).flatMap(([k, v]) => ['--variable', `${k}=${v}`]),
        ],
        {
          PATH: `${bin}:${process.env.PATH ?? ''}`,
          // The image-build job's dotenv report, which the trigger job's variables refer to.
          globals: { IMAGE_DIGEST: DIGEST, IMAGE_VERSION: pkg.version, CI_REGISTRY_IMAGE: REGISTRY_IMAGE },
        },
      );
      expect(r.code, r.output.slice(-4000)).toBe(0);
      for (const job of ['template-deploy', 'template-stop', 'template-plan']) {
        expect(r.output).toMatch(new RegExp(`${job}\\s+\\$ test "\\$\\(gestalt-deploy --version\\)" = "\\$GESTALT_CHECK_VERSION"`));
        expect(r.output).toMatch(new RegExp(`PASS\\s+${job}`));
      }
      expect(r.output).not.toMatch(/FAIL/);

      // The jobs got the template's keys (id token, dotenv report, stop action...) with this commit's image.
      const preview = await runGitlabCiLocal(repo, [
        '--preview',
        '--file',
        '.gitlab/template-check.gitlab-ci.yml',
        ...Object.entries(forwarded).flatMap(([k, v]) => ['--variable', `${k}=${v}`]),
      ]);
      expect(preview.code, preview.output.slice(-4000)).toBe(0);
      const merged = parseCiYaml(preview.stdout) as CiConfig;
      expect(merged['template-deploy']?.variables?.GESTALT_IMAGE).toBe('$GESTALT_CHECK_IMAGE');
      expect(merged['template-deploy']?.id_tokens).toBeDefined();
      expect(merged['template-stop']?.environment).toMatchObject({ action: 'stop' });
    },
    JOB_TIMEOUT,
  );

  it('includes the CI/CD component from the same commit, and its self-test jobs get the component\'s keys', async () => {
    const ci = parseCiYaml(readFileSync(resolve(ROOT, '.gitlab-ci.yml'), 'utf8')) as CiConfig & { include?: unknown };
    expect(ci.include).toEqual([expect.objectContaining({ component: '$CI_SERVER_FQDN/$CI_PROJECT_PATH/deploy@$CI_COMMIT_SHA' })]);
    await cleanCheckout(repo);
    const preview = await runGitlabCiLocal(repo, ['--preview', '--variable', 'PIPELINE_SELF_TEST=local']);
    expect(preview.code, preview.output.slice(-4000)).toBe(0);
    const merged = parseCiYaml(preview.stdout) as Record<string, Record<string, unknown>>;
    const deploy = merged['self-test-deploy'] ?? {};
    expect(deploy.id_tokens).toEqual({ GESTALT_ID_TOKEN: { aud: '$CI_SERVER_URL' } });
    expect(deploy.script).toEqual(['gestalt-deploy deploy']);
    expect(deploy.resource_group).toBe('gestalt-deploy-self-test/$CI_ENVIRONMENT_NAME');
    expect(deploy.environment).toMatchObject({ name: 'self-test/$CI_COMMIT_REF_SLUG', deployment_tier: 'testing', auto_stop_in: '1 day', on_stop: 'self-test-stop' });
    expect(merged['self-test-verify']?.script).toEqual(['gestalt-deploy verify']);
    expect(merged['self-test-verify']?.environment).toMatchObject({ name: 'self-test/$CI_COMMIT_REF_SLUG', action: 'verify' });
    expect(merged['self-test-stop']?.script).toEqual(['gestalt-deploy stop']);
    expect(merged['self-test-stop']?.environment).toMatchObject({ name: 'self-test/$CI_COMMIT_REF_SLUG', action: 'stop' });
  });

  it(
    'component-self-test: the component of this commit deploys, verifies and stops against the local stand-ins',
    async () => {
      await cleanCheckout(repo);
      const r = await runGitlabCiLocal(repo, ['component-self-test']);
      expect(r.code, r.output.slice(-6000)).toBe(0);
      expect(r.output).toMatch(/PASS\s+component-self-test/);
      expect(r.output).toMatch(/\[self-test\] self-test-deploy ✔ gestalt-deploy\/self-test\/hello\.js; self-test-verify ✔ GET \/lambdas\/gestalt-deploy\/self-test\/hello\.js/);
      expect(r.output).toMatch(/\[self-test\] self-test-stop ✔ nothing left in Gestalt or in the deployment records/);
    },
    JOB_TIMEOUT,
  );

  it(
    'lint and typecheck pass',
    async () => {
      for (const job of ['lint', 'typecheck']) {
        await cleanCheckout(repo);
        const r = await runGitlabCiLocal(repo, [job]);
        expect(r.code, r.output.slice(-4000)).toBe(0);
        expect(r.output).toMatch(new RegExp(`PASS\\s+${job}`));
      }
    },
    JOB_TIMEOUT,
  );

  describe('semver tag: template-release and release', () => {
    let registry: PackageRegistry;
    beforeAll(async () => {
      registry = await startPackageRegistry();
    });
    afterAll(async () => {
      await registry?.close();
    });

    const releaseVariables = (tag: string): string[] =>
      [
        `CI_COMMIT_TAG=${tag}`,
        `IMAGE_DIGEST=${DIGEST}`,
        `CI_REGISTRY_IMAGE=${REGISTRY_IMAGE}`,
        `CI_API_V4_URL=${registry.url}/api/v4`,
        'CI_JOB_TOKEN=job-token-of-this-test',
      ].flatMap((v) => ['--variable', v]);

    it(
      'template-release writes and uploads the template with the image pinned by version and digest, and notes its integrity',
      async () => {
        await cleanCheckout(repo);
        const r = await runGitlabCiLocal(repo, ['template-release', ...releaseVariables(pkg.version)]);
        expect(r.code, r.output.slice(-4000)).toBe(0);
        expect(r.output).toMatch(/PASS\s+template-release/);

        const written = await readFile(join(repo.dir, 'public/deploy.gitlab-ci.yml'));
        const docs = parseAllDocuments(written.toString());
        if (!Array.isArray(docs)) throw new Error('published template has no documents');
        const header = docs[0]?.toJS() as { spec: { inputs: { image: { default: string } } } };
        expect(header.spec.inputs.image.default).toBe(`${REGISTRY_IMAGE}:${pkg.version}@${DIGEST}`);

        // Uploaded to the project's generic package registry with the job token, byte for byte.
        const path = `/api/v4/projects/1217/packages/generic/gestalt-deploy-template/${pkg.version}/deploy.gitlab-ci.yml`;
        const upload = registry.uploads.find((u) => u.path === path);
        expect(upload?.token).toBe('job-token-of-this-test');
        expect(upload?.body.equals(written)).toBe(true);

        const integrity = `sha256-${createHash('sha256').update(written).digest('base64')}`;
        const notes = await readFile(join(repo.dir, 'release-notes.md'), 'utf8');
        expect(notes).toContain(`integrity: ${integrity}`);
        expect(notes).toContain(`remote: ${registry.url}${path}`);
        expect(notes).toContain(`${REGISTRY_IMAGE}:${pkg.version}@${DIGEST}`);
        // The component of the release, and the image input that pins it by digest as well.
        expect(notes).toContain(`- component: gitlab.example.com/gestalt-deploy/gestalt-deploy/deploy@${pkg.version}\n`);
        expect(notes).toContain(`image: ${REGISTRY_IMAGE}:${pkg.version}@${DIGEST}\n`);

        const env = await readFile(join(repo.dir, 'template-release.env'), 'utf8');
        expect(env).toContain(`TEMPLATE_INTEGRITY=${integrity}\n`);
        expect(env).toContain(`VERSION=${pkg.version}\n`);
        expect(env).toContain(`COMPONENT=gitlab.example.com/gestalt-deploy/gestalt-deploy/deploy@${pkg.version}\n`);

        // release (the job with the release: keyword) runs on what template-release left.
        const rel = await runGitlabCiLocal(repo, ['release', ...releaseVariables(pkg.version)]);
        expect(rel.code, rel.output.slice(-4000)).toBe(0);
        expect(rel.output).toMatch(/PASS\s+release/);
      },
      JOB_TIMEOUT,
    );

    it(
      'template-release refuses a component that is stale or does not run the release\'s image',
      async () => {
        await cleanCheckout(repo);
        const component = join(repo.dir, 'templates/deploy.yml');
        const text = await readFile(component, 'utf8');
        await writeFile(component, text.replace(`gestalt-deploy:${pkg.version}\n`, 'gestalt-deploy:0.0.1\n'));
        const before = registry.uploads.length;
        const r = await runGitlabCiLocal(repo, ['template-release', ...releaseVariables(pkg.version)]);
        expect(r.code).not.toBe(0);
        expect(r.output).toMatch(/FAIL\s+template-release/);
        expect(r.output).toContain('templates/deploy.yml differs from what templates/deploy.gitlab-ci.yml gives');
        expect(registry.uploads.length).toBe(before);
        await cleanCheckout(repo);
      },
      JOB_TIMEOUT,
    );

    it(
      'template-release refuses a tag that is not the version in package.json',
      async () => {
        await cleanCheckout(repo);
        const before = registry.uploads.length;
        const r = await runGitlabCiLocal(repo, ['template-release', ...releaseVariables('99.0.0')]);
        expect(r.code).not.toBe(0);
        expect(r.output).toMatch(/FAIL\s+template-release/);
        expect(r.output).toContain("does not match package.json's version");
        expect(registry.uploads.length).toBe(before);
      },
      JOB_TIMEOUT,
    );
  });
});
