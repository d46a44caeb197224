// Runs a TypeScript entry (the benchmark, the demo) with plain node: esbuild bundles it into
// node_modules/.cache so bare imports still resolve from the repository's node_modules.
import { build } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = process.argv[2];
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <entry.ts> [args…]');
  process.exit(2);
}
const outdir = resolve(root, 'node_modules/.cache/gestalt-deploy');
await mkdir(outdir, { recursive: true });
const outfile = resolve(outdir, `${basename(entry, '.ts')}.mjs`);
await build({ entryPoints: [resolve(root, entry)], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' });
process.argv.splice(2, 1);
process.env.GESTALT_REPO_ROOT = root;
await import(pathToFileURL(outfile).href);
