// Start-up for `npm run bench`: `--version` against `node -e 0`, a hello-world bundle and the bundle as it was
// before the start-up work, all on the Node running the bench, in interleaved runs (the machine is shared, so each
// round runs every command once and the medians are compared).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const run = promisify(execFile);
const ROUNDS = 21;
/** The last commit before the start-up work (issue 16): the bench rebuilds its bundle to compare against. */
export const BASELINE_COMMIT = '9a0078f';

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

async function timeOnce(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  await run(process.execPath, args, { env });
  return performance.now() - started;
}

/** The bundle built from BASELINE_COMMIT's sources with this checkout's node_modules, or undefined without git history. */
async function baselineBundle(root: string, dir: string): Promise<string | undefined> {
  const tree = join(dir, 'baseline');
  await mkdir(tree);
  try {
    await run('bash', ['-c', `git -C "${root}" archive ${BASELINE_COMMIT} src scripts package.json tsconfig.json | tar -x -C "${tree}"`]);
    await symlink(join(root, 'node_modules'), join(tree, 'node_modules'));
    await run(process.execPath, ['scripts/build.mjs'], { cwd: tree });
    return join(tree, 'dist/gestalt-deploy.js');
  } catch {
    return undefined;
  }
}

export interface StartupResult {
  nodeE0: number;
  hello: number;
  version: number;
  baseline?: number;
  /** Node >= 22.1: --version with a warmed NODE_COMPILE_CACHE, as in the image. */
  cached?: number;
}

export async function measureStartup(root: string, bundle: string): Promise<StartupResult> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-startup-'));
  try {
    const helloSrc = join(dir, 'hello.ts');
    await writeFile(helloSrc, "process.stdout.write('0.0.0\\n');\n");
    const hello = join(dir, 'hello.mjs');
    await build({ entryPoints: [helloSrc], outfile: hello, bundle: true, platform: 'node', format: 'esm', minify: true, logLevel: 'warning' });
    const baseline = await baselineBundle(root, dir);
    const env = { PATH: process.env.PATH };
    const cacheDir = join(dir, 'compile-cache');
    const canCache = typeof (await import('node:module') as { enableCompileCache?: unknown }).enableCompileCache === 'function';
    if (canCache) await timeOnce([bundle, '--version'], { ...env, NODE_COMPILE_CACHE: cacheDir });
    const t: Record<keyof StartupResult, number[]> = { nodeE0: [], hello: [], version: [], baseline: [], cached: [] };
    for (let i = 0; i < ROUNDS; i++) {
      t.nodeE0.push(await timeOnce(['-e', '0'], env));
      t.hello.push(await timeOnce([hello], env));
      t.version.push(await timeOnce([bundle, '--version'], env));
      if (baseline) t.baseline.push(await timeOnce([baseline, '--version'], env));
      if (canCache) t.cached.push(await timeOnce([bundle, '--version'], { ...env, NODE_COMPILE_CACHE: cacheDir }));
    }
    return {
      nodeE0: median(t.nodeE0),
      hello: median(t.hello),
      version: median(t.version),
      baseline: baseline ? median(t.baseline) : undefined,
      cached: canCache ? median(t.cached) : undefined,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
