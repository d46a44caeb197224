// Helpers for running the project's own .gitlab-ci.yml through gitlab-ci-local: a disposable copy of the repository,
// the gitlab-ci-local call, GitLab's CI schema, and a loopback stand-in for the generic package registry.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { parseAllDocuments } from 'yaml';
import type { CollectionTag } from 'yaml';
import { serveLoopback } from '../support/loopback.js';

export const ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const GCL = resolve(ROOT, 'node_modules/gitlab-ci-local/dist/index.js');
export const GIT_REMOTE = 'https://gitlab.example.com/gestalt-deploy/gestalt-deploy.git';

export interface Repository {
  /** The repository copy: gitlab-ci-local's project dir, where shell-executor jobs run. */
  dir: string;
  /** gitlab-ci-local's --home (its variables.yml) and room for a test's own files, outside the checkout. */
  home: string;
  remove(): Promise<void>;
}

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });

/**
 * Copies what a checkout of the working tree would hold (tracked and untracked files, minus .gitignore'd ones such as
 * node_modules and dist) into a new git repository with a GitLab-like remote, committed, on branch main.
 */
export async function copyRepository(): Promise<Repository> {
  const base = await mkdtemp(join(tmpdir(), 'gestalt-project-ci-'));
  const dir = join(base, 'repo');
  const home = join(base, 'home');
  await mkdir(dir);
  await mkdir(join(home, '.gitlab-ci-local'), { recursive: true });
  const files = git(ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard')
    .split('\0')
    .filter(Boolean);
  for (const f of new Set(files)) {
    await cp(join(ROOT, f), join(dir, f), { recursive: false, preserveTimestamps: true }).catch((err: NodeJS.ErrnoException) => {
      // Deleted in the working tree but still tracked: a checkout of the tree would not have it either.
      if (err.code !== 'ENOENT') throw err;
    });
  }
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, '-c', 'user.email=ci@example.com', '-c', 'user.name=CI', 'commit', '-q', '-m', 'checkout');
  git(dir, 'remote', 'add', 'origin', GIT_REMOTE);
  git(dir, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
  git(dir, 'remote', 'set-head', 'origin', 'main');
  return { dir, home, remove: () => rm(base, { recursive: true, force: true }) };
}

/** Back to the committed tree, as each GitLab job starts from a fresh checkout (gitlab-ci-local's state is kept). */
export async function cleanCheckout(repo: Repository): Promise<void> {
  git(repo.dir, 'checkout', '-q', '--', '.');
  git(repo.dir, 'clean', '-q', '-ffdx', '-e', '.gitlab-ci-local');
}

export interface GclOptions {
  /** PATH for the jobs (shell executor: they inherit gitlab-ci-local's environment). */
  PATH?: string;
  /** Variables every pipeline gets, child pipelines included (gitlab-ci-local's home variables file). */
  globals?: Record<string, string>;
  /** Extra environment for gitlab-ci-local and its jobs. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface GclResult {
  code: number | null;
  /** stdout and stderr interleaved. */
  output: string;
  stdout: string;
}

// The machine's npm cache, warm from the project's own install: jobs' `npm ci --prefer-offline` then mostly copies.
const npmCache = ((): string => {
  try {
    return execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return join(tmpdir(), 'gestalt-project-ci-npm-cache');
  }
})();

export async function runGitlabCiLocal(repo: Repository, args: string[], opts: GclOptions = {}): Promise<GclResult> {
  const globals = Object.entries(opts.globals ?? {});
  await writeFile(
    join(repo.home, '.gitlab-ci-local', 'variables.yml'),
    globals.length ? `global:\n${globals.map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n')}\n` : '{}\n',
  );
  // Vitest's own variables would turn a job's nested vitest into a worker of this run; GCL_* are read as options.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(VITEST|GCL|TINYPOOL)/.test(k) && k !== 'NODE_OPTIONS') env[k] = v;
  }
  Object.assign(env, opts.env ?? {}, opts.PATH ? { PATH: opts.PATH } : {}, { FORCE_COLOR: '0', NO_COLOR: '1' });
  const argv = [
    GCL,
    ...args,
    '--force-shell-executor',
    '--fetch-includes',
    '--home',
    repo.home,
    // Jobs with an image get CI_PROJECT_DIR=/builds/... although they run here.
    '--variable',
    `CI_PROJECT_DIR=${repo.dir}`,
    '--variable',
    `npm_config_cache=${npmCache}`,
    // Overriding these is the point of a local run; the warning would only bury the job output.
    '--ignore-predefined-vars',
    'CI_PROJECT_DIR,CI_REGISTRY_IMAGE,CI_API_V4_URL,CI_JOB_TOKEN,CI_COMMIT_TAG,CI_PIPELINE_SOURCE,CI_REGISTRY,CI_REGISTRY_USER,CI_REGISTRY_PASSWORD',
  ];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, argv, { cwd: repo.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs ?? 220_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output, stdout });
    });
  });
}

// `!reference [job, key]` as GitLab's pipeline editor reads it for validation: a plain sequence.
const referenceTag: CollectionTag = { tag: '!reference', collection: 'seq', default: false, resolve: (seq) => seq };

/** The configuration document of a CI file (after a `spec:` header, if any), as plain data. */
export function parseCiYaml(text: string): unknown {
  const docs = parseAllDocuments(text, { customTags: [referenceTag] });
  if (!Array.isArray(docs) || docs.length === 0) throw new Error('no YAML document');
  for (const d of docs) if (d.errors.length) throw new Error(d.errors[0]?.message);
  return docs[docs.length - 1]?.toJS();
}

interface AjvValidate {
  (data: unknown): boolean;
  errors?: unknown[] | null;
}

/**
 * GitLab's CI/CD JSON schema (app/assets/javascripts/editor/schema/ci.json) as gitlab-ci-local 4.73.0 ships it,
 * bundled into its dist/index.js, taken before gitlab-ci-local relaxes some of its patterns; compiled with the Ajv
 * that gitlab-ci-local itself depends on and the options it uses.
 */
export function gitlabCiSchemaValidator(): AjvValidate {
  const src = readFileSync(GCL, 'utf8');
  const m = /var (\w+)=\{\$schema:"http:\/\/json-schema\.org\/draft-07\/schema#",\$id:"https:\/\/gitlab\.com\/\.gitlab-ci\.yml"/.exec(src);
  if (!m) throw new Error(`GitLab CI schema not found in ${GCL}`);
  const start = m.index + m[0].indexOf('{');
  const end = src.indexOf(`};delete ${m[1]}.definitions`, start);
  if (end < 0) throw new Error(`end of GitLab CI schema not found in ${GCL}`);
  // An object literal of plain data (no calls), from a pinned devDependency.
  const schema: unknown = vm.runInNewContext(`(${src.slice(start, end + 1)})`, {}, { timeout: 5000 });
  const requireFromGcl = createRequire(GCL);
  const AjvModule = requireFromGcl('ajv') as { default?: unknown };
  const Ajv = (AjvModule.default ?? AjvModule) as new (opts: object) => { compile(schema: unknown): AjvValidate };
  const ajv = new Ajv({
    allErrors: true,
    allowUnionTypes: true,
    validateFormats: false,
    strict: false,
    keywords: ['markdownDescription'],
  });
  return ajv.compile(schema);
}

export interface Upload {
  method: string;
  path: string;
  token: string | undefined;
  body: Buffer;
}

export interface PackageRegistry {
  url: string;
  uploads: Upload[];
  close(): Promise<void>;
}

/** Accepts PUTs under /api/v4/projects/:id/packages/generic/... as GitLab does (201), and records them. */
export async function startPackageRegistry(): Promise<PackageRegistry> {
  const uploads: Upload[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (req.method !== 'PUT' || !/^\/api\/v4\/projects\/[^/]+\/packages\/generic\/[^/]+\/[^/]+\/[^/]+$/.test(path)) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"404 Not Found"}');
        return;
      }
      const token = req.headers['job-token'];
      if (!token) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"401 Unauthorized"}');
        return;
      }
      uploads.push({ method: req.method, path, token: String(token), body: Buffer.concat(chunks) });
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"message":"201 Created"}');
    });
  });
  const { url, close } = await serveLoopback(server);
  return { url, uploads, close };
}
