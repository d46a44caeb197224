// Running pipelines for real with gitlab-ci-local (docs/testing.md): a temp git repository per project, the
// built runner on PATH as `gestalt-deploy`, project variables in .gitlab-ci-local-variables.yml, and the job-only
// values (the ID token, CI_PROJECT_DIR) as --variable.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { runCaptured } from './loopback.js';
import { REPO_ROOT } from './template-server.js';

const exec = promisify(execFile);

export const CLI_PATH: string = join(REPO_ROOT, 'dist/gestalt-deploy.js');
export const GCL_PATH: string = join(REPO_ROOT, 'node_modules/gitlab-ci-local/dist/index.js');
/**
 * The remote include every example names (where a release publishes the template: the project's generic package
 * registry, see .gitlab-ci.yml template-release); tests point it at the loopback template server.
 */
export const PUBLISHED_TEMPLATE_URL = /https:\/\/gitlab\.com\/api\/v4\/projects\/gestalt-deploy%2Fgestalt-deploy\/packages\/generic\/gestalt-deploy-template\/[^/\s]+\/deploy\.gitlab-ci\.yml/g;

/** Stands in for a project's build job: one "package" per file under src/, in dist/ (src/api/x.js → dist/api/x.zip). */
export const BUILD_SH = `#!/bin/sh
set -eu
rm -rf dist
for src in $(find src -type f | sort); do
  rel=\${src#src/}
  mkdir -p "dist/$(dirname "$rel")"
  cp "$src" "dist/\${rel%.*}.zip"
done
`;

export const SAMPLE_SOURCES: Record<string, string> = {
  'src/hello.js': 'exports.handler = async () => ({ statusCode: 200, body: "hello" });\n',
  'src/goodbye.js': 'exports.handler = async () => ({ statusCode: 200, body: "goodbye" });\n',
};

export interface ExampleRepoOptions {
  /** Directory name under examples/. */
  example: string;
  /** Where the template is served; replaces the published URL the example includes. */
  templateUrl: string;
  /** Project files besides .gitlab-ci.yml and build.sh. */
  files: Record<string, string>;
  /** Project/group CI/CD variables. */
  variables: Record<string, string>;
  /** Default acme/<example>. */
  projectPath?: string;
  branch?: string;
}

/** The component include the component examples name: this repository's templates/deploy.yml at a release. */
export const PUBLISHED_COMPONENT = /component: \$CI_SERVER_FQDN\/gestalt-deploy\/gestalt-deploy\/deploy@(\S+)/g;

/**
 * A project whose .gitlab-ci.yml is the example, unchanged but for the include URL; an example that includes the
 * component keeps its include and gets the component seeded in gitlab-ci-local's cache (run it with fetchIncludes: false).
 */
export async function makeExampleRepo(opts: ExampleRepoOptions): Promise<string> {
  const original = await readFile(join(REPO_ROOT, 'examples', opts.example, '.gitlab-ci.yml'), 'utf8');
  const includes = original.match(PUBLISHED_TEMPLATE_URL) ?? [];
  const components = [...original.matchAll(PUBLISHED_COMPONENT)];
  if (includes.length + components.length !== 1) {
    throw new Error(`examples/${opts.example}/.gitlab-ci.yml includes the published template or component ${includes.length + components.length} times; expected once`);
  }
  const dir = await makeRepo({
    files: { '.gitlab-ci.yml': original.replace(PUBLISHED_TEMPLATE_URL, opts.templateUrl), 'build.sh': BUILD_SH, ...opts.files },
    projectPath: opts.projectPath ?? `acme/${opts.example}`,
    ...(opts.branch ? { branch: opts.branch } : {}),
  });
  await setProjectVariables(dir, opts.variables);
  if (components[0]) await seedComponent(dir, components[0][1] as string);
  return dir;
}

/** What a stop job with GIT_STRATEGY: none would find: no packages, no reports left by an earlier job. */
export async function removeCheckoutOutputs(dir: string): Promise<void> {
  for (const f of ['dist', 'gestalt-deploy.json', 'gestalt-deploy.env', 'gestalt-annotations.json', 'gestalt-plan.json']) {
    await rm(join(dir, f), { recursive: true, force: true });
  }
}

export interface RepoOptions {
  /** Files to commit, path → content. */
  files: Record<string, string | Buffer>;
  /** GitLab project path; gives CI_PROJECT_PATH, CI_PROJECT_NAME and CI_SERVER_URL. Default acme/lambdas. */
  projectPath?: string;
  /** Branch checked out after the first commit on main. Default main. */
  branch?: string;
}

async function git(dir: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec('git', args, { cwd: dir, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
  return stdout.trim();
}

/** A git repository shaped like a GitLab checkout: origin on gitlab.example.com, default branch main. */
export async function makeRepo(opts: RepoOptions): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gestalt-pipeline-'));
  await writeFiles(dir, opts.files);
  await git(dir, 'init', '-q', '-b', 'main');
  await git(dir, 'config', 'user.email', 'ci@example.com');
  await git(dir, 'config', 'user.name', 'CI');
  await git(dir, 'config', 'commit.gpgsign', 'false');
  // Local state of gitlab-ci-local and the job's reports are not part of the project.
  await writeFile(join(dir, '.gitignore'), '.gitlab-ci-local/\n.gitlab-ci-local-variables.yml\ngestalt-*.json\ngestalt-deploy.env\n');
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', '-m', 'initial');
  await git(dir, 'remote', 'add', 'origin', `https://gitlab.example.com/${opts.projectPath ?? 'acme/lambdas'}.git`);
  await git(dir, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
  await git(dir, 'remote', 'set-head', 'origin', 'main');
  if (opts.branch && opts.branch !== 'main') await git(dir, 'checkout', '-q', '-b', opts.branch);
  return dir;
}

export async function writeFiles(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const path = resolve(dir, rel);
    if (!path.startsWith(dir + '/')) throw new Error(`${rel} escapes ${dir}`);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    // Shell scripts are committed executable, as a project's build scripts are.
    if (path.endsWith('.sh')) await chmod(path, 0o755);
  }
}

/** Commits every change in the repository (a new push). */
export async function commitAll(dir: string, message: string): Promise<void> {
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', '-m', message);
}

/** Where a released component lives: the project that publishes it, and the component's name (templates/<name>.yml). */
export const COMPONENT_PROJECT = 'gestalt-deploy/gestalt-deploy';
export const COMPONENT_NAME = 'deploy';

/**
 * Puts the component (templates/deploy.yml of this repository, or `text`) into gitlab-ci-local's include cache of
 * `dir` as version `ref` of COMPONENT_PROJECT, where `include: component: <host>/<project>/deploy@<ref>` finds it when
 * gitlab-ci-local runs without --fetch-includes (GclOptions.fetchIncludes: false).
 */
export async function seedComponent(dir: string, ref: string, text?: string, host = 'gitlab.example.com'): Promise<string> {
  const file = join(dir, '.gitlab-ci-local/includes', host, COMPONENT_PROJECT, ref, `templates/${COMPONENT_NAME}.yml`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text ?? (await readFile(join(REPO_ROOT, `templates/${COMPONENT_NAME}.yml`), 'utf8')));
  return file;
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/**
 * A directory with `gestalt-deploy` (the built bundle, as the runner image has it) to put first on PATH. `script`
 * replaces the wrapper's body, e.g. to record what a job passes to the runner.
 */
export async function makeBinDir(script?: string): Promise<string> {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} does not exist: run \`npm run build\` first`);
  const dir = await mkdtemp(join(tmpdir(), 'gestalt-bin-'));
  const body = script ?? `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI_PATH)} "$@"`;
  await writeFile(join(dir, 'gestalt-deploy'), `#!/bin/sh\n${body}\n`);
  await chmod(join(dir, 'gestalt-deploy'), 0o755);
  return dir;
}

/** Project-level CI/CD variables (Settings > CI/CD), as gitlab-ci-local reads them from the project dir. */
export async function setProjectVariables(dir: string, variables: Record<string, string>): Promise<void> {
  await writeFile(join(dir, '.gitlab-ci-local-variables.yml'), stringify(variables));
}

export interface GclOptions {
  /** Job-level values passed as --variable (highest precedence, like trigger variables). */
  variables?: Record<string, string>;
  /** Directory put first on PATH (see makeBinDir). */
  bin?: string;
  timeoutMs?: number;
  /**
   * false: use what is in gitlab-ci-local's include cache (.gitlab-ci-local/includes/<host>/<project>/<ref>/...) instead
   * of fetching. A component from another project is fetched with git from the project's own remote host, which
   * tests do not have: they seed the cache with the component's file, as GitLab would serve it, and run without fetching.
   */
  fetchIncludes?: boolean;
}

export interface GclResult {
  code: number;
  stdout: string;
  stderr: string;
  output: string;
  ms: number;
}

/** Environment for gitlab-ci-local: nothing of this test process's AWS/GESTALT/GCL settings leaks into a job. */
function gclEnv(home: string, bin: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(AWS_|GESTALT_|GCL|CI_|GITLAB_|GF_|S3_|LAMBDA_|VITEST|NODE_OPTIONS)/.test(k) || k === 'CI') continue;
    // Everything is on 127.0.0.1: a proxy from the environment would only get in the way (gitlab-ci-local uses it).
    if (/^(https?|all|no)_proxy$/i.test(k)) continue;
    env[k] = v;
  }
  env.HOME = home;
  env.FORCE_COLOR = '0';
  env.NO_COLOR = '1';
  env.PATH = [bin, dirname(process.execPath), process.env.PATH].filter(Boolean).join(':');
  return env;
}

/**
 * Runs gitlab-ci-local in `dir` with --force-shell-executor and --fetch-includes (always: it caches remote
 * includes, and an edited template would otherwise be ignored) plus `args` (job names, --preview, ...).
 */
export async function gcl(dir: string, args: string[], opts: GclOptions = {}): Promise<GclResult> {
  const home = join(dir, '.gitlab-ci-local', 'home');
  await mkdir(home, { recursive: true });
  const variableArgs = Object.entries({ CI_PROJECT_DIR: dir, ...opts.variables }).flatMap(([k, v]) => ['--variable', `${k}=${v}`]);
  // CI_PROJECT_DIR is overridden on purpose (docs/testing.md, "gitlab-ci-local"): say so, or gitlab-ci-local warns on every run.
  const fetch = opts.fetchIncludes === false ? [] : ['--fetch-includes'];
  const argv = [GCL_PATH, '--force-shell-executor', ...fetch, '--no-color', '--ignore-predefined-vars', 'CI_PROJECT_DIR', ...variableArgs, ...args];
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const run = await runCaptured(process.execPath, argv, { cwd: dir, env: gclEnv(home, opts.bin), timeoutMs });
  if (run.timedOut) throw new Error(`gitlab-ci-local ${args.join(' ')} did not finish in ${timeoutMs} ms:\n${run.output}`);
  const { stdout, stderr, output, ms } = run;
  const code = run.code ?? (run.signal ? 128 : 1);
  if (process.env.GESTALT_PIPELINE_TIMINGS) process.stderr.write(`[gitlab-ci-local ${args.join(' ') || '(pipeline)'}] ${ms} ms, exit ${code}\n`);
  return { code, stdout, stderr, output, ms };
}

/** Job names gitlab-ci-local reported as passed / failed. */
export function jobResults(output: string): { passed: string[]; failed: string[]; warned: string[] } {
  const pick = (label: string) => [...output.matchAll(new RegExp(`^\\s*${label}\\s+(.+?)\\s*$`, 'gm'))].map((m) => (m[1] as string).trim());
  return { passed: pick('PASS'), failed: pick('FAIL'), warned: pick('WARN') };
}
