// Which files become which functions. Runs on a real temp project dir (with real symlinks), since every rule here
// is about what is on disk: nothing outside the project dir, no directories, no empty matches, no name clashes.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashFunctions, renderName, resolveFunctions } from '../../src/artifacts/functions.js';
import type { FunctionSource } from '../../src/config/types.js';
import { hashFile, matchFiles, MAX_PROBLEMS_PER_PATTERN, PART_SIZE } from '../../src/artifacts/files.js';
import { loadConfig } from '../../src/config/env.js';
import type { Config, JobContext } from '../../src/config/types.js';

let project: string; // as given (may itself be reached through a symlinked tmpdir)
let real: string; // its real path
let outside: string;

function put(rel: string, content: string | Buffer = `content of ${rel}`) {
  const path = join(project, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
}

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'gd-artifacts-'));
  real = realpathSync(project);
  outside = mkdtempSync(join(tmpdir(), 'gd-outside-'));
  put('dist/a.zip');
  put('dist/b.zip');
  put('dist/.hidden.zip');
  put('dist/notes.txt');
  put('dist/a/x.zip', 'first x');
  put('dist/b/x.zip', 'second x');
  mkdirSync(join(project, 'dist/folder.zip'));
  writeFileSync(join(outside, 'secret.zip'), 'not yours');
  symlinkSync(join(outside, 'secret.zip'), join(project, 'escape.zip'));
  symlinkSync(outside, join(project, 'outdir'));
  symlinkSync(join(project, 'dist/a.zip'), join(project, 'inside.zip'));
  symlinkSync(join(project, 'missing.zip'), join(project, 'broken.zip'));
});
afterAll(() => {
  rmSync(project, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

function config(extra: Record<string, string | undefined> = {}): Config {
  return loadConfig('deploy', {
    CI_PROJECT_NAME: 'lambdas',
    CI_PROJECT_PATH: 'acme/lambdas',
    CI_COMMIT_REF_SLUG: 'feature-x',
    CI_COMMIT_SHA: '0123456789abcdef0123456789abcdef01234567',
    CI_ENVIRONMENT_NAME: 'review/feature-x',
    CI_ENVIRONMENT_SLUG: 'review-feature-x',
    CI_PROJECT_DIR: project,
    GESTALT_META_URL: 'https://meta.example.com',
    GESTALT_ORG: 'acme',
    GESTALT_LAMBDA_PROVIDER_ID: '3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c',
    GESTALT_TOKEN: 'tok-abcdef',
    S3_BUCKET_NAME: 'acme-packages',
    AWS_REGION: 'eu-west-1',
    LAMBDA_ARTIFACTS: 'dist/*.zip',
    LAMBDA_RUNTIME: 'nodejs',
    LAMBDA_API: 'acme',
    LAMBDA_ENVIRONMENT_ID: 'e7b3ca8b-5b9a-4a51-8309-3ced4718e41f',
    ...extra,
  }, project);
}
const env = (c: Config): FunctionSource => ({ source: 'LAMBDA_ARTIFACTS', patterns: c.artifacts, overrides: {} });

describe('renderName', () => {
  const job = { projectName: 'lambdas', projectPath: 'acme/lambdas', ref: 'main', environmentSlug: 'review-main' } as JobContext;

  it('fills every token', () => {
    expect(renderName('{project}|{project_path}|{ref}|{file}|{basename}|{env}', job, 'api.v2.zip')).toBe('lambdas|acme/lambdas|main|api.v2.zip|api.v2|review-main');
  });

  it('uses the original default shape project/ref/file', () => {
    expect(renderName('{project}/{ref}/{file}', job, 'hello.zip')).toBe('lambdas/main/hello.zip');
  });

  it('leaves unknown tokens and plain text as they are', () => {
    expect(renderName('fn-{branch}-{basename}', job, 'noext')).toBe('fn-{branch}-noext');
  });
});

describe('matchFiles', () => {
  it('expands a glob inside the project dir, sorted, skipping dot files, with real absolute paths', async () => {
    const { files, problems } = await matchFiles(['dist/*.zip'], project, 'LAMBDA_ARTIFACTS');
    expect(files).toEqual([
      { relPath: 'dist/a.zip', absPath: join(real, 'dist/a.zip') },
      { relPath: 'dist/b.zip', absPath: join(real, 'dist/b.zip') },
    ]);
    expect(problems).toEqual([
      { variable: 'LAMBDA_ARTIFACTS', message: "'dist/folder.zip' is a directory; match the package files (e.g. 'dist/folder.zip/*.zip'), not their folder." },
    ]);
  });

  it('reports a pattern that matches nothing, naming the pattern and the dir', async () => {
    expect(await matchFiles(['build/*.zip'], project, 'gestalt-deploy.yml:4')).toEqual({
      files: [],
      problems: [{
        variable: 'gestalt-deploy.yml:4',
        message: `pattern 'build/*.zip' matches no file in ${project}; check the path, or that the build job's artifacts reach this job (needs:/dependencies:).`,
      }],
    });
  });

  it("refuses '..' and absolute patterns without looking at the disk", async () => {
    const { files, problems } = await matchFiles(['../gd-outside-*/secret.zip', 'dist/../../x.zip', `${outside}/secret.zip`], project, 'S');
    expect(files).toEqual([]);
    expect(problems.map((p) => p.message)).toEqual([
      `pattern '../gd-outside-*/secret.zip' reaches outside the project dir; use a path relative to ${project} without '..'.`,
      `pattern 'dist/../../x.zip' reaches outside the project dir; use a path relative to ${project} without '..'.`,
      `pattern '${outside}/secret.zip' reaches outside the project dir; use a path relative to ${project} without '..'.`,
    ]);
  });

  it('refuses a symlink that escapes the project dir, naming where it points', async () => {
    expect(await matchFiles(['escape.zip'], project, 'S')).toEqual({
      files: [],
      problems: [{ variable: 'S', message: `'escape.zip' is a symlink to ${realpathSync(join(outside, 'secret.zip'))}, outside the project dir; copy the package into the project instead.` }],
    });
  });

  it('refuses files reached through a symlinked directory that escapes', async () => {
    const { files, problems } = await matchFiles(['outdir/*.zip'], project, 'S');
    expect(files).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toContain("'outdir/secret.zip' is a symlink to");
  });

  it('accepts a symlink that stays inside, resolving it to the real file', async () => {
    expect(await matchFiles(['inside.zip'], project, 'S')).toEqual({
      files: [{ relPath: 'inside.zip', absPath: join(real, 'dist/a.zip') }],
      problems: [],
    });
  });

  it('reports a broken symlink a glob reaches; a literal name for it simply matches nothing', async () => {
    expect(await matchFiles(['broken*.zip'], project, 'S')).toEqual({
      files: [],
      problems: [{ variable: 'S', message: "'broken.zip' is a broken symlink; point it at a package inside the project dir." }],
    });
    const literal = await matchFiles(['broken.zip'], project, 'S');
    expect(literal.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^pattern 'broken.zip' matches no file in /)]);
  });

  it('reports a directory matched by name', async () => {
    const { files, problems } = await matchFiles(['dist/a'], project, 'S');
    expect(files).toEqual([]);
    expect(problems).toEqual([{ variable: 'S', message: "'dist/a' is a directory; match the package files (e.g. 'dist/a/*.zip'), not their folder." }]);
  });

  it('reports each bad pattern and still returns the good matches', async () => {
    const { files, problems } = await matchFiles(['dist/a.zip', 'nope.zip', '/abs.zip', 'dist/b.zip'], project, 'S');
    expect(files.map((f) => f.relPath)).toEqual(['dist/a.zip', 'dist/b.zip']);
    expect(problems.map((p) => p.message.slice(0, 18))).toEqual(["pattern 'nope.zip'", "pattern '/abs.zip'"]);
  });

  // Regression: `inside.startsWith('..')` also matches a file or folder inside the project whose
  // name begins with two dots ('..build/a.zip'), so it is refused as "a symlink ... outside the project dir" although
  // it is neither. The `inside.split(sep)[0] === '..'` test on the same line is the correct one.
  it("accepts a file inside the project whose name starts with '..'", async () => {
    put('..build/a.zip');
    expect(await matchFiles(['..build/a.zip'], project, 'S')).toEqual({
      files: [{ relPath: '..build/a.zip', absPath: join(real, '..build/a.zip') }],
      problems: [],
    });
  });
});

describe('resolveFunctions', () => {
  it('turns LAMBDA_ARTIFACTS matches into specs with the defaults and the default name template', async () => {
    const c = config({ LAMBDA_ARTIFACTS: 'dist/a.zip dist/b.zip' });
    const { functions, problems } = await resolveFunctions(c, [env(c)]);
    expect(problems).toEqual([]);
    expect(functions).toEqual([
      {
        name: 'lambdas/feature-x/a.zip', file: 'a.zip', relPath: 'dist/a.zip', absPath: join(real, 'dist/a.zip'),
        runtime: 'nodejs', handler: 'a.zip', handlerDefaulted: true, memory: 512, cpus: 0.1, timeout: 30, methods: ['GET', 'POST'], public: true, env: {},
        source: 'LAMBDA_ARTIFACTS',
      },
      {
        name: 'lambdas/feature-x/b.zip', file: 'b.zip', relPath: 'dist/b.zip', absPath: join(real, 'dist/b.zip'),
        runtime: 'nodejs', handler: 'b.zip', handlerDefaulted: true, memory: 512, cpus: 0.1, timeout: 30, methods: ['GET', 'POST'], public: true, env: {},
        source: 'LAMBDA_ARTIFACTS',
      },
    ]);
  });

  it('fills {file} and {basename} in the handler and renders the name template', async () => {
    const c = config({ LAMBDA_ARTIFACTS: 'dist/b.zip', LAMBDA_HANDLER: '{basename}.handler ({file})', GESTALT_NAME_TEMPLATE: '{env}-{basename}' });
    const { functions } = await resolveFunctions(c, [env(c)]);
    expect(functions.map((f) => [f.name, f.handler])).toEqual([['review-feature-x-b', 'b.handler (b.zip)']]);
  });

  it('reports two packages that map to one function name', async () => {
    const c = config({ LAMBDA_ARTIFACTS: 'dist/a/x.zip dist/b/x.zip' });
    const { functions, problems } = await resolveFunctions(c, [env(c)]);
    expect(functions.map((f) => f.relPath)).toEqual(['dist/a/x.zip', 'dist/b/x.zip']);
    expect(problems).toEqual([{
      variable: 'LAMBDA_ARTIFACTS',
      message: "'dist/a/x.zip' and 'dist/b/x.zip' would both deploy as function 'lambdas/feature-x/x.zip'; rename one package, or include {basename}/{project_path} in GESTALT_NAME_TEMPLATE.",
    }]);
  });

  it('names both sources when the clash spans the functions file and LAMBDA_ARTIFACTS', async () => {
    const c = config({ LAMBDA_ARTIFACTS: 'dist/b/x.zip' });
    const file: FunctionSource = { source: 'gestalt-deploy.yml:2', patterns: ['dist/a/x.zip'], overrides: {} };
    const { problems } = await resolveFunctions(c, [file, env(c)]);
    expect(problems.map((p) => p.variable)).toEqual(['gestalt-deploy.yml:2, LAMBDA_ARTIFACTS']);
  });

  it('reports a missing runtime against LAMBDA_RUNTIME, or against the functions-file entry', async () => {
    const c = config({ LAMBDA_ARTIFACTS: 'dist/a.zip', LAMBDA_RUNTIME: undefined });
    const file: FunctionSource = { source: 'gestalt-deploy.yml:7', patterns: ['dist/b.zip'], overrides: { memory: 128 } };
    const { functions, problems } = await resolveFunctions(c, [file, env(c)]);
    expect(problems).toEqual([
      { variable: 'gestalt-deploy.yml:7', message: "no runtime for 'dist/b.zip'; set LAMBDA_RUNTIME (e.g. nodejs, python3) or runtime: for this function." },
      { variable: 'LAMBDA_RUNTIME', message: "no runtime for 'dist/a.zip'; set LAMBDA_RUNTIME (e.g. nodejs, python3) or runtime: for this function." },
    ]);
    expect(functions.map((f) => f.runtime)).toEqual(['', '']);
  });

  it('lets the first source win a package matched twice, with its overrides and name', async () => {
    const c = config({ LAMBDA_ARTIFACTS: 'dist/a.zip dist/b.zip' });
    const file: FunctionSource = {
      source: 'gestalt-deploy.yml:2',
      patterns: ['dist/a.zip'],
      overrides: { name: 'api-{ref}', runtime: 'python3', memory: 2048, env: { A: '1' }, handler: undefined },
    };
    const { functions, problems } = await resolveFunctions(c, [file, env(c)]);
    expect(problems).toEqual([]);
    expect(functions.map((f) => [f.name, f.relPath, f.runtime, f.memory, f.handler, f.env, f.source])).toEqual([
      ['api-feature-x', 'dist/a.zip', 'python3', 2048, 'a.zip', { A: '1' }, 'gestalt-deploy.yml:2'],
      ['lambdas/feature-x/b.zip', 'dist/b.zip', 'nodejs', 512, 'b.zip', {}, 'LAMBDA_ARTIFACTS'],
    ]);
  });

  it('passes on match problems (nothing matched) with the source name', async () => {
    const c = config({ LAMBDA_ARTIFACTS: 'nothing/*.zip' });
    const { functions, problems } = await resolveFunctions(c, [env(c)]);
    expect(functions).toEqual([]);
    expect(problems.map((p) => p.variable)).toEqual(['LAMBDA_ARTIFACTS']);
    expect(problems[0]!.message).toContain("pattern 'nothing/*.zip' matches no file");
  });
});

describe('hashFile / hashFunctions', () => {
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

  it('equals crypto sha256 of the content, with the byte size', async () => {
    const content = 'zip bytes é\n';
    put('h/small.zip', content);
    expect(await hashFile(join(project, 'h/small.zip'))).toEqual({ sha256: sha(content), size: Buffer.byteLength(content), partSize: PART_SIZE, partSha256: [sha(content)] });
    expect(Buffer.byteLength(content)).toBe(13);
  });

  it('handles empty files and files spanning several read chunks', async () => {
    put('h/empty.zip', '');
    const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    expect(await hashFile(join(project, 'h/empty.zip'))).toEqual({ sha256: empty, size: 0, partSize: PART_SIZE, partSha256: [empty] });
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    put('h/big.zip', big);
    expect(await hashFile(join(project, 'h/big.zip'))).toEqual({ sha256: sha(big), size: big.length, partSize: PART_SIZE, partSha256: [sha(big)] });
  });

  it('also hashes each piece as a multipart upload sends it, whatever the read chunks', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    put('h/parts.zip', big);
    // A piece size that is no multiple of the 1 MiB read chunks, so pieces start inside chunks.
    const piece = 1024 * 1024 + 5;
    const parts = [0, 1, 2, 3].map((i) => sha(big.subarray(i * piece, (i + 1) * piece)));
    expect(await hashFile(join(project, 'h/parts.zip'), piece)).toEqual({ sha256: sha(big), size: big.length, partSize: piece, partSha256: parts });
    // Exactly one piece long: one piece, not an empty second one.
    put('h/exact.zip', big.subarray(0, piece));
    expect((await hashFile(join(project, 'h/exact.zip'), piece)).partSha256).toEqual([sha(big.subarray(0, piece))]);
  });

  it('hashFunctions adds sha256 and size to every spec, keeping order', async () => {
    const c = config({ LAMBDA_ARTIFACTS: 'dist/a/x.zip dist/b.zip', GESTALT_NAME_TEMPLATE: '{project_path}/{basename}' });
    const { functions } = await resolveFunctions(c, [env(c)]);
    const packaged = await hashFunctions(functions, 1);
    expect(packaged.map((p) => [p.name, p.sha256, p.size])).toEqual([
      ['acme/lambdas/b', sha('content of dist/b.zip'), 'content of dist/b.zip'.length],
      ['acme/lambdas/x', sha('first x'), 7],
    ]);
  });
});

describe('matchFiles: the walk and links', () => {
  let walk: string;
  let walkReal: string;
  const at = (rel: string) => join(walk, rel);

  beforeAll(() => {
    walk = mkdtempSync(join(tmpdir(), 'gd-walk-'));
    walkReal = realpathSync(walk);
    for (const rel of ['dist/a.zip', 'dist/sub/b.zip', 'other/c.zip']) {
      mkdirSync(join(at(rel), '..'), { recursive: true });
      writeFileSync(at(rel), rel);
    }
    symlinkSync('..', at('dist/l1')); // to its own parent
    symlinkSync('..', at('dist/l2'));
    symlinkSync('../other', at('dist/o')); // inside the project: followed
    symlinkSync('../dist', at('other/back')); // with dist/o, a loop through two links
    symlinkSync('/etc', at('dist/etc')); // a directory outside the project
    mkdirSync(at('many'));
    for (let i = 0; i < 13; i++) mkdirSync(at(`many/d${String(i).padStart(2, '0')}`));
  });
  afterAll(() => rmSync(walk, { recursive: true, force: true }));

  it('follows a link into the project, and not links back into directories the walk is already inside', async () => {
    const { files, problems } = await matchFiles(['dist/**/*.zip'], walk, 'S');
    expect(files).toEqual([
      { relPath: 'dist/a.zip', absPath: join(walkReal, 'dist/a.zip') },
      { relPath: 'dist/o/c.zip', absPath: join(walkReal, 'other/c.zip') },
      { relPath: 'dist/sub/b.zip', absPath: join(walkReal, 'dist/sub/b.zip') },
    ]);
    expect(problems).toEqual([]);
  });

  it('reports a matched loop or link out once, by name, without walking through it', async () => {
    const { problems } = await matchFiles(['dist/**/*'], walk, 'S');
    const messages = problems.map((p) => p.message);
    expect(messages).toContain("'dist/l1' is a symlink back to the project dir, which contains it: a loop, not followed; remove the link or narrow the pattern.");
    expect(messages).toContain("'dist/o/back' is a symlink back to 'dist', which contains it: a loop, not followed; remove the link or narrow the pattern.");
    expect(messages).toContain("'dist/etc' is a symlink to the directory /etc, outside the project dir, and was not followed; copy the packages into the project instead.");
    expect(messages.some((m) => m.includes('dist/etc/'))).toBe(false);
    expect(messages.some((m) => /l1\/|l2\//.test(m))).toBe(false);
  });

  it('a pattern that starts inside a loop still ends', async () => {
    const { files } = await matchFiles(['dist/l1/**/*.zip'], walk, 'S');
    // Some files are reached by two paths (resolveFunctions keeps one per real file); none through a loop twice.
    expect(new Set(files.map((f) => f.absPath))).toEqual(new Set(['dist/a.zip', 'dist/sub/b.zip', 'other/c.zip'].map((r) => join(walkReal, r))));
    expect(files.every((f) => !/(l1|l2)\/.*(l1|l2)\/|o\/back\/o\//.test(f.relPath.slice('dist/l1/'.length)))).toBe(true);
  });

  it(`lists at most ${MAX_PROBLEMS_PER_PATTERN} problems per pattern and counts the rest`, async () => {
    const { problems } = await matchFiles(['many/*'], walk, 'S');
    expect(problems).toHaveLength(MAX_PROBLEMS_PER_PATTERN + 1);
    expect(problems[0]!.message).toContain("'many/d00' is a directory");
    expect(problems[MAX_PROBLEMS_PER_PATTERN]!.message).toBe("… and 3 more match(es) of 'many/*' with problems, not listed; narrow the pattern to the package files.");
  });
});

describe('control characters in names', () => {
  it('a file name with one is a problem, printed escaped; the other files still match', async () => {
    put('ctl/x\n[ ok ] fake.zip');
    put('ctl/fine.zip');
    const { files, problems } = await matchFiles(['ctl/*.zip'], project, 'S');
    expect(files.map((f) => f.relPath)).toEqual(['ctl/fine.zip']);
    expect(problems).toEqual([{ variable: 'S', message: "file name 'ctl/x\\n[ ok ] fake.zip' contains control characters, which would garble the job log and reports; rename the file." }]);
  });

  it('a pattern with one is printed escaped too', async () => {
    const { problems } = await matchFiles(['none\x1b[2K*.zip'], project, 'S');
    expect(problems[0]!.message).toContain("pattern 'none\\x1b[2K*.zip' matches no file");
  });

  it('a function name with one is a problem naming where the name came from', async () => {
    const c = config({ LAMBDA_ARTIFACTS: 'dist/a.zip', GESTALT_NAME_TEMPLATE: '{project}/\t{file}' });
    const { problems } = await resolveFunctions(c, [env(c)]);
    expect(problems).toEqual([{ variable: 'GESTALT_NAME_TEMPLATE', message: "function name 'lambdas/\\ta.zip' (for 'dist/a.zip') contains control characters, which would garble the job log and reports; remove them from the name." }]);
  });
});
