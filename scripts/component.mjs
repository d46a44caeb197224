#!/usr/bin/env node
// Writes the CI/CD component templates/deploy.yml from the template templates/deploy.gitlab-ci.yml, so both ways of
// including gestalt-deploy (`include: component:` and `include: remote:`) have one source.
//
//   node scripts/component.mjs           write templates/deploy.yml (npm run component)
//   node scripts/component.mjs --check   exit 1 if templates/deploy.yml is not what this script would write
//   node scripts/component.mjs --release VERSION
//                                        the release job's check: as --check, and the component's image input
//                                        defaults to the runner image tagged VERSION (the component of a release
//                                        runs that release's image)
//
// GitLab reads a component from `templates/<name>.yml` in the project's repository at the included version, so the
// component has to be a committed file; test/template/component.test.ts fails when it drifts from the template.
// Only the leading comment changes (it shows the component include instead of the remote one); every byte from
// `spec:` on is the template's, so inputs, jobs and their validation are the same in both forms.
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';

const root = resolve(fileURLToPath(import.meta.url), '../..');
export const TEMPLATE_PATH = resolve(root, 'templates/deploy.gitlab-ci.yml');
export const COMPONENT_NAME = 'deploy';
export const COMPONENT_PATH = resolve(root, `templates/${COMPONENT_NAME}.yml`);

const GENERATED = [
  `# Generated from templates/deploy.gitlab-ci.yml by scripts/component.mjs: edit that file, then run`,
  `# \`npm run component\`. Include this component at a released version (a tag of this project):`,
];

/** The leading comment as paragraphs (runs of comment lines between `#` lines), and the rest from `spec:` on. */
function split(text) {
  const start = text.search(/^spec:/m);
  if (start < 0) throw new Error('templates/deploy.gitlab-ci.yml: no `spec:` header');
  const lines = text.slice(0, start).split('\n').slice(0, -1);
  if (!lines.every((l) => l.startsWith('#'))) throw new Error('templates/deploy.gitlab-ci.yml: only comments may come before `spec:`');
  const paragraphs = [[]];
  for (const line of lines) {
    if (line === '#') paragraphs.push([]);
    else paragraphs.at(-1).push(line);
  }
  return { paragraphs, body: text.slice(start) };
}

/** The component's text for a given template text. */
export function componentText(template) {
  const { paragraphs, body } = split(template);
  const find = (test, what) => {
    const i = paragraphs.findIndex((p) => p.some(test));
    if (i < 0) throw new Error(`templates/deploy.gitlab-ci.yml: its leading comment has no ${what}`);
    return i;
  };
  const remote = find((l) => l.includes('- remote:'), 'remote include example');
  const note = find((l) => l.startsWith('# The same file is the CI/CD component'), 'note on the component');
  const component = find((l) => l.includes('- component:'), 'component include example');
  const [title, ...rest] = paragraphs[0];
  // Title, where it comes from, the component include in place of the remote one, then the rest as it is.
  const out = [[title.replace(/^# gestalt-deploy:/, '# gestalt-deploy (CI/CD component):'), ...rest], GENERATED];
  paragraphs.forEach((p, i) => {
    if (i === remote) out.push(paragraphs[component]);
    else if (i !== 0 && i !== note && i !== component) out.push(p);
  });
  return `${out.map((p) => p.join('\n')).join('\n#\n')}\n${body}`;
}

/** The default of the component's `image` input. */
export function imageDefault(text) {
  const header = parseAllDocuments(text)[0]?.toJS();
  return header?.spec?.inputs?.image?.default;
}

async function cli(argv) {
  const release = argv.includes('--release') ? argv[argv.indexOf('--release') + 1] : undefined;
  if (argv.includes('--release') && !release) throw new Error('usage: component.mjs --release VERSION');
  const expected = componentText(await readFile(TEMPLATE_PATH, 'utf8'));
  if (argv.includes('--check') || release) {
    const actual = await readFile(COMPONENT_PATH, 'utf8').catch(() => '');
    if (actual !== expected) {
      console.error('component: templates/deploy.yml differs from what templates/deploy.gitlab-ci.yml gives; run `npm run component`.');
      return 1;
    }
    const image = imageDefault(actual);
    if (release && !String(image).endsWith(`:${release}`)) {
      console.error(`component: templates/deploy.yml runs image ${image}, not the image of release ${release}; set the image input's default (and package.json's version) to ${release}.`);
      return 1;
    }
    return 0;
  }
  await writeFile(COMPONENT_PATH, expected);
  console.error('component: wrote templates/deploy.yml');
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await cli(process.argv.slice(2)).catch((err) => {
    console.error(`component: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  });
}
