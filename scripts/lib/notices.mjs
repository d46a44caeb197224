// Third-party notices for the bundle. esbuild inlines the runtime dependencies (AWS SDK, ofetch, yaml, fast-glob and
// what they pull in) and drops their licence comments, so the licences travel in a file next to it instead: every
// package with at least one byte in the output, its version and declared licence, and the licence and NOTICE files it
// ships, each distinct text once.
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

const LICENCE_FILE = /^(licen[cs]e|copying|notice)([.-].*)?$/i;

/** `node_modules/@scope/name` or `node_modules/name` (the innermost one) of a path esbuild reports, else undefined. */
export function packageDir(input) {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input.split(sep).join('/'));
  return m?.[1];
}

/** The package directories whose files put at least one byte into `outfile` (paths relative to `root`). */
export function bundledPackageDirs(metafile, outfile, root) {
  const output = metafile.outputs[relative(root, outfile).split(sep).join('/')];
  if (!output) throw new Error(`the metafile has no output ${outfile}`);
  const dirs = new Set();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const dir = packageDir(input);
    if (dir && bytesInOutput > 0) dirs.add(dir);
  }
  return [...dirs].sort();
}

function declaredLicence(pkg) {
  if (typeof pkg.license === 'string') return pkg.license;
  if (pkg.license?.type) return pkg.license.type;
  if (Array.isArray(pkg.licenses)) return pkg.licenses.map((l) => l.type ?? l).join(' OR ');
  return 'UNKNOWN';
}

/** Name, version, declared licence and licence/notice file texts of each package directory. */
export async function readPackages(root, dirs) {
  const packages = [];
  for (const dir of dirs) {
    const pkg = JSON.parse(await readFile(join(root, dir, 'package.json'), 'utf8'));
    const files = (await readdir(join(root, dir))).filter((f) => LICENCE_FILE.test(f)).sort();
    const texts = [];
    for (const f of files) texts.push({ file: f, text: (await readFile(join(root, dir, f), 'utf8')).replace(/\r\n/g, '\n').trim() });
    packages.push({ name: pkg.name, version: pkg.version, licence: declaredLicence(pkg), texts });
  }
  // The same name@version can sit in several node_modules folders; list it once.
  const seen = new Set();
  return packages.filter((p) => !seen.has(`${p.name}@${p.version}`) && seen.add(`${p.name}@${p.version}`)).sort((a, b) => a.name.localeCompare(b.name));
}

const RULE = '='.repeat(80);

/** The notices file: a list of `name@version (licence)` lines, then each distinct licence text with who ships it. */
export function renderNotices(packages, { product, bundle }) {
  const groups = new Map();
  for (const p of packages) {
    const key = p.texts.length > 0 ? p.texts.map((t) => t.text).join('\n\n') : `(no licence file in the package; it declares ${p.licence})`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  const lines = [
    `${product} bundles the packages below into ${bundle}. Each is used under the licence it declares;`,
    'their licence and notice texts follow, each text once, headed by the packages that ship it.',
    '',
    'Packages:',
    ...packages.map((p) => `  ${p.name}@${p.version} (${p.licence})`),
    '',
  ];
  for (const [text, owners] of groups) {
    lines.push(RULE, ...owners.map((p) => `${p.name}@${p.version} (${p.licence})${p.texts.length ? `: ${p.texts.map((t) => t.file).join(', ')}` : ''}`), RULE, '', text, '');
  }
  return `${lines.join('\n')}\n`;
}
