// Imports a TypeScript module (the stand-ins, the benchmark) from plain node: esbuild bundles it into
// node_modules/.cache so its bare imports still resolve to the repository's node_modules.
import { build } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export async function importTs(entry) {
  const outdir = resolve(repoRoot, 'node_modules/.cache/gestalt-deploy');
  await mkdir(outdir, { recursive: true });
  const outfile = resolve(outdir, `${basename(entry, '.ts')}.mjs`);
  await build({ entryPoints: [resolve(repoRoot, entry)], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' });
  process.env.GESTALT_REPO_ROOT = repoRoot;
  return import(pathToFileURL(outfile).href);
}
