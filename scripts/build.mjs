// Bundles the runner into one self-contained ESM file: dist/gestalt-deploy.js.
// Everything (AWS SDK, ofetch, yaml, fast-glob) is inlined so the file runs with plain `node` from any directory.
import { build } from 'esbuild';
import { readFile, chmod } from 'node:fs/promises';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const outfile = new URL('../dist/gestalt-deploy.js', import.meta.url).pathname;

await build({
  entryPoints: [new URL('../src/cli.ts', import.meta.url).pathname],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  define: { __GESTALT_DEPLOY_VERSION__: JSON.stringify(pkg.version) },
  // Some bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __gdCreateRequire } from 'node:module'; const require = __gdCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
await chmod(outfile, 0o755);
