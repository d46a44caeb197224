#!/usr/bin/env node
// Writes the template as a release publishes it: the default of its `image` input pinned to the released image by
// version and digest. Prints the published file's `include:integrity` value on stdout.
//
//   node scripts/release-template.mjs TEMPLATE IMAGE VERSION DIGEST OUTPUT
//
//   TEMPLATE  templates/deploy.gitlab-ci.yml (a `spec: inputs:` header document, `---`, the jobs)
//   IMAGE     image name without tag or digest, e.g. registry.gitlab.com/gestalt-deploy/gestalt-deploy
//   VERSION   release version (a leading "v" is dropped), e.g. 1.2.3 or v1.2.3-rc.1
//   DIGEST    the image's (manifest list's) digest: sha256:<64 hex> or just the hex
//   OUTPUT    path of the file to write
//
// Only the bytes of that one scalar change; every other byte of the template (comments, layout) is kept, so the
// published file reads like the reviewed source. GitLab checks `integrity: sha256-<base64 of the SHA-256 of the file's
// bytes>` against exactly what it downloads, so the value is computed from the bytes written.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { isScalar, parseAllDocuments } from 'yaml';

const IMAGE_NAME = /^[a-z0-9]+(?:[.-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;
// Docker tags allow no "+", so semver build metadata cannot be part of an image tag.
const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
const DIGEST = /^(?:sha256:)?([0-9a-f]{64})$/;
const INPUT_PATH = ['spec', 'inputs', 'image', 'default'];

class UsageError extends Error {}

export function integrityOf(bytes) {
  return `sha256-${createHash('sha256').update(bytes).digest('base64')}`;
}

function parseDocs(text, what) {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new UsageError(`${what}: no YAML documents`);
  for (const d of docs) {
    if (d.errors.length) throw new UsageError(`${what}: ${d.errors[0].message}`);
  }
  return docs;
}

function scalarSource(node, value) {
  switch (node.type) {
    case 'PLAIN':
      return value;
    case 'QUOTE_DOUBLE':
      return JSON.stringify(value);
    case 'QUOTE_SINGLE':
      return `'${value.replaceAll("'", "''")}'`;
    default:
      throw new UsageError(`spec.inputs.image.default is a ${node.type} scalar; write it as a plain or quoted string`);
  }
}

/** `<image>:<version>@sha256:<hex>`; throws UsageError for an unusable argument. */
export function pinnedRef({ image, version, digest }) {
  if (!IMAGE_NAME.test(image)) throw new UsageError(`image "${image}" is not an image name without tag or digest`);
  const v = version.replace(/^v/, '');
  if (!VERSION.test(v)) throw new UsageError(`version "${version}" is not a semantic version usable as an image tag`);
  const hex = DIGEST.exec(digest)?.[1];
  if (!hex) throw new UsageError(`digest "${digest}" is not sha256:<64 lowercase hex>`);
  return `${image}:${v}@sha256:${hex}`;
}

/** Returns the rewritten template text; throws UsageError when the template or an argument is unusable. */
export function pinTemplate(text, ref) {
  const pinned = pinnedRef(ref);
  const docs = parseDocs(text, 'template');
  // GitLab reads inputs only from a header document that is followed by the configuration document.
  if (docs.length < 2 || !docs[0].hasIn(['spec'])) {
    throw new UsageError('template has no `spec:` header document followed by `---` and the jobs');
  }
  const node = docs[0].getIn(INPUT_PATH, true);
  if (!isScalar(node) || typeof node.value !== 'string' || !node.range) {
    throw new UsageError('template has no string spec.inputs.image.default to pin');
  }
  const out = text.slice(0, node.range[0]) + scalarSource(node, pinned) + text.slice(node.range[1]);

  // The edit must have changed that value and nothing else.
  const expected = docs.map((d) => d.toJS());
  expected[0].spec.inputs.image.default = pinned;
  const actual = parseDocs(out, 'rewritten template').map((d) => d.toJS());
  if (!isDeepStrictEqual(actual, expected)) throw new Error('rewriting the image default changed more than that value');
  return { text: out, previous: node.value, pinned };
}

async function cli(argv) {
  const [template, image, version, digest, output, ...rest] = argv;
  if (!output || rest.length) {
    throw new UsageError('usage: release-template.mjs TEMPLATE IMAGE VERSION DIGEST OUTPUT');
  }
  pinnedRef({ image, version, digest });
  const { text, previous, pinned } = pinTemplate(await readFile(template, 'utf8'), { image, version, digest });
  const bytes = Buffer.from(text, 'utf8');
  await mkdir(dirname(output), { recursive: true });
  await writeFile(output, bytes);
  console.error(`release-template: ${template} -> ${output}: image ${previous} -> ${pinned}`);
  console.log(integrityOf(bytes));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    await cli(process.argv.slice(2));
  } catch (err) {
    console.error(`release-template: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
