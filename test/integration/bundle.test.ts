// What ships next to the bundle: the source map that makes GESTALT_DEBUG stack traces name src/… files and lines
// (and that the bundle does without), and the third-party notices that list every package inlined into it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, runCli } from '../support/run-cli.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = join(ROOT, 'dist');

/** A loopback port nothing listens on: calls to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  await new Promise((ok) => server.close(ok));
  return port;
}

/**
 * A stop job whose working directory has a directory where the report file goes: writing the report fails inside
 * our own code (src/reports/write.ts) with an error nobody planned for, the "unexpected failure" path.
 */
async function brokenJob(): Promise<{ cwd: string; env: Record<string, string> }> {
  const cwd = await mkdtemp(join(tmpdir(), 'gestalt-unexpected-'));
  await mkdir(join(cwd, 'gestalt-deploy.json'));
  const nowhere = `http://127.0.0.1:${await closedPort()}`;
  const env = {
    PATH: process.env.PATH ?? '',
    CI_ENVIRONMENT_NAME: 'review/unexpected',
    CI_URL: nowhere,
    AWS_REGION: 'us-east-1',
    S3_BUCKET_NAME: 'gestalt-packages',
    S3_PREFIX: 'acme/lambdas',
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ENDPOINT_URL_S3: nowhere,
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEUNEXPECT',
    AWS_SECRET_ACCESS_KEY: 'unexpected/Secret+Key0123456789abcdefEXAMPLE',
    GESTALT_RETRY_ATTEMPTS: '1',
  };
  return { cwd, env };
}

const SRC_FRAME = /\bsrc\/reports\/write\.ts:\d+:\d+/;

describe('stack traces of our own code', () => {
  it('under GESTALT_DEBUG=true name the src/ file and line, through the source map next to the bundle', async () => {
    expect(existsSync(`${CLI_PATH}.map`), 'npm run build writes dist/gestalt-deploy.js.map').toBe(true);
    const { cwd, env } = await brokenJob();
    const r = await runCli(['stop'], { env: { ...env, GESTALT_DEBUG: 'true' }, cwd });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/ERROR: unexpected failure: EISDIR: illegal operation on a directory/);
    expect(r.output).toMatch(SRC_FRAME);
    expect(r.output).toMatch(/\bsrc\/main\.ts:\d+:\d+/);
    expect(r.output).not.toContain(env.AWS_SECRET_ACCESS_KEY);
  });

  it('without debug: one sentence, no stack (a test that can fail: the same run, only GESTALT_DEBUG differs)', async () => {
    const { cwd, env } = await brokenJob();
    const r = await runCli(['stop'], { env, cwd });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/ERROR: unexpected failure: EISDIR: .*\(rerun with GESTALT_DEBUG=true for details, and report it\)\./);
    expect(r.output).not.toMatch(SRC_FRAME);
    expect(r.output).not.toMatch(/^\s+at /m);
  });

  it('the bundle copied alone (no map beside it) still runs under GESTALT_DEBUG, with frames in the bundle', async () => {
    const lonely = await mkdtemp(join(tmpdir(), 'bundle-only-'));
    const script = join(lonely, 'gestalt-deploy.js');
    await copyFile(CLI_PATH, script);
    expect(await readdir(lonely)).toEqual(['gestalt-deploy.js']);
    const help = await runCli(['--help'], { env: { PATH: process.env.PATH, GESTALT_DEBUG: 'true' }, cwd: lonely, script });
    expect(help.code, help.output).toBe(0);
    expect(help.stdout).toMatch(/^gestalt-deploy \d+\.\d+\.\d+ — deploy serverless functions/);
    const { cwd, env } = await brokenJob();
    const r = await runCli(['stop', '--debug'], { env, cwd, script });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/ERROR: unexpected failure: EISDIR/);
    expect(r.output).toMatch(/bundle-only-[^/]+\/gestalt-deploy\.js[?:]/);
    expect(r.output).not.toMatch(SRC_FRAME);
  });
});

// Tests read esbuild's metafile as data.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface Bundled {
  id: string;
  dir: string;
  licenceFiles: string[];
}

/** Every package with bytes in the bundle, by the metafile of the build that wrote it (dist/gestalt-deploy.meta.json). */
async function bundledPackages(): Promise<Bundled[]> {
  const meta: Json = JSON.parse(await readFile(join(DIST, 'gestalt-deploy.meta.json'), 'utf8'));
  const output = meta.outputs['dist/gestalt-deploy.js'];
  const dirs = new Set<string>();
  for (const [input, info] of Object.entries(output.inputs as Record<string, { bytesInOutput: number }>)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m && info.bytesInOutput > 0) dirs.add(m[1] as string);
  }
  const found = new Map<string, Bundled>();
  for (const dir of dirs) {
    const pkg = JSON.parse(await readFile(join(ROOT, dir, 'package.json'), 'utf8'));
    const licenceFiles = (await readdir(join(ROOT, dir))).filter((f) => /^(licen[cs]e|copying|notice)([.-]|$)/i.test(f));
    found.set(`${pkg.name}@${pkg.version}`, { id: `${pkg.name}@${pkg.version}`, dir, licenceFiles });
  }
  return [...found.values()];
}

/** What a notices text fails to carry: packages not in its list, and licence texts a package ships that it lacks. */
async function missingFrom(notices: string, packages: Bundled[]): Promise<string[]> {
  const listed = new Set([...(notices.split('\nPackages:\n')[1]?.split('\n\n')[0] ?? '').matchAll(/^ {2}(\S+@[^\s@]+) \(/gm)].map((m) => m[1]));
  const missing: string[] = [];
  for (const p of packages) {
    if (!listed.has(p.id)) missing.push(`${p.id}: not listed`);
    for (const f of p.licenceFiles) {
      const text = (await readFile(join(ROOT, p.dir, f), 'utf8')).replace(/\r\n/g, '\n').trim();
      if (!notices.includes(text)) missing.push(`${p.id}: ${f} text`);
    }
  }
  return missing;
}

describe('dist/THIRD-PARTY-NOTICES.txt', () => {
  let notices: string;
  let packages: Bundled[];
  beforeAll(async () => {
    notices = await readFile(join(DIST, 'THIRD-PARTY-NOTICES.txt'), 'utf8');
    packages = await bundledPackages();
  });

  it('the metafile it was made from describes the bundle on disk (same build)', async () => {
    const meta: Json = JSON.parse(await readFile(join(DIST, 'gestalt-deploy.meta.json'), 'utf8'));
    expect(meta.outputs['dist/gestalt-deploy.js'].bytes).toBe((await stat(CLI_PATH)).size);
  });

  it('lists every package inlined into the bundle, with the licence and notice texts it ships', async () => {
    const ids = packages.map((p) => p.id);
    // The runtime dependencies themselves, and what they pull in.
    for (const name of ['@aws-sdk/client-s3', '@aws-sdk/client-sts', '@aws-sdk/s3-request-presigner', 'ofetch', 'yaml', 'fast-glob', 'micromatch']) {
      expect(ids.some((id) => id.startsWith(`${name}@`)), name).toBe(true);
    }
    expect(await missingFrom(notices, packages)).toEqual([]);
    expect(notices).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    for (const p of packages) expect(notices).toMatch(new RegExp(`^  ${p.id.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\((Apache-2\\.0|MIT|ISC|BSD-[23]-Clause|0BSD)\\)$`, 'm'));
  });

  it('is a check that can fail: a notices text without one of the packages, or without its licence text, is caught', async () => {
    const yaml = packages.find((p) => p.id.startsWith('yaml@')) as Bundled;
    expect(await missingFrom(notices.replace(`\n  ${yaml.id} (`, '\n  (dropped) ('), packages)).toEqual([`${yaml.id}: not listed`]);
    const licence = (await readFile(join(ROOT, yaml.dir, 'LICENSE'), 'utf8')).trim();
    expect(await missingFrom(notices.replace(licence, ''), packages)).toContain(`${yaml.id}: LICENSE text`);
  });
});

describe('the npm package', () => {
  it('ships the bundle with its source map and the third-party notices', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path) ?? [];
    for (const f of ['dist/gestalt-deploy.js', 'dist/gestalt-deploy.js.map', 'dist/THIRD-PARTY-NOTICES.txt', 'templates/deploy.yml', 'templates/deploy.gitlab-ci.yml']) {
      expect(files, f).toContain(f);
    }
    expect(files, 'the metafile is for the tests, not for users').not.toContain('dist/gestalt-deploy.meta.json');
  });
});
