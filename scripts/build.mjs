// Bundles the runner into one self-contained ESM file: dist/gestalt-deploy.js.
// Everything (AWS SDK, ofetch, yaml, fast-glob) is inlined so the file runs with plain `node` from any directory.
// Next to it:
//   dist/gestalt-deploy.js.map     source map (file names and lines only, no sources), so stack traces under
//                                  GESTALT_DEBUG name src/… files; the bundle runs the same without it
//   dist/THIRD-PARTY-NOTICES.txt   every inlined package with its licence and notice texts (the bundle keeps no
//                                  licence comments)
//   dist/gestalt-deploy.meta.json  esbuild's metafile: which input put how many bytes where (the notices test reads it)
import { build } from 'esbuild';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { bundledPackageDirs, readPackages, renderNotices } from './lib/notices.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const outfile = fileURLToPath(new URL('../dist/gestalt-deploy.js', import.meta.url));

// Start-up cost is mostly evaluating modules: the bundle is built so that `--version`, `--help` and a configuration
// error evaluate as little as possible (src/main.ts imports each command's module only when it runs).
//
// Node built-ins: an ESM `import … from 'node:http2'` in a bundled package becomes a top-level import of the bundle,
// loaded at start-up whatever the command. Resolved to a one-line CommonJS module instead, each is required only
// when the module that imports it is first evaluated.
const BUILTIN = new RegExp(`^(node:)?(${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})$`);
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: BUILTIN }, (args) =>
      // The shim's own require() is the real built-in, left to Node.
      args.namespace === 'lazy-builtin' ? { path: args.path, external: true } : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({ contents: `module.exports = require('node:${args.path}');`, loader: 'js' }));
  },
};
// ofetch's `node` build inlines a fetch polyfill (node-fetch-native) for Nodes without fetch; every Node we support
// (>= 20) has it, so its plain build, which calls globalThis.fetch, is the one bundled.
const nativeFetchOfetch = {
  name: 'ofetch-native-fetch',
  setup(b) {
    b.onResolve({ filter: /^ofetch$/ }, () => ({ path: fileURLToPath(new URL('../node_modules/ofetch/dist/index.mjs', import.meta.url)) }));
  },
};

const result = await build({
  // Paths in the metafile and the source map are relative to the repository, whatever the caller's directory.
  absWorkingDir: root,
  entryPoints: [fileURLToPath(new URL('../src/cli.ts', import.meta.url))],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // ESM builds first: they are smaller than the CommonJS ones (no interop helpers, better tree-shaking).
  mainFields: ['module', 'main'],
  plugins: [lazyBuiltins, nativeFetchOfetch],
  minify: true,
  // linked: the bundle ends with a sourceMappingURL comment naming the map beside it; Node reads it only when
  // source maps are on (src/cli.ts switches them on for GESTALT_DEBUG).
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'none',
  metafile: true,
  define: { __GESTALT_DEPLOY_VERSION__: JSON.stringify(pkg.version) },
  // Some bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __gdCreateRequire } from 'node:module'; const require = __gdCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
await chmod(outfile, 0o755);
await writeFile(new URL('../dist/gestalt-deploy.meta.json', import.meta.url), `${JSON.stringify(result.metafile)}\n`);

const packages = await readPackages(root, bundledPackageDirs(result.metafile, outfile, root));
await writeFile(
  new URL('../dist/THIRD-PARTY-NOTICES.txt', import.meta.url),
  renderNotices(packages, { product: `gestalt-deploy ${pkg.version}`, bundle: 'gestalt-deploy.js' }),
);
