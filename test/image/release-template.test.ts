// scripts/release-template.mjs, run as the release job runs it: a separate node process on files.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = resolve(ROOT, 'scripts/release-template.mjs');
const IMAGE = 'registry.gitlab.com/gestalt-deploy/gestalt-deploy';
const HEX = createHash('sha256').update('manifest list').digest('hex');

const FIXTURE = `# header comment: kept byte for byte
spec:
  inputs:
    stage:
      default: deploy   # a trailing comment
    image:
      type: string
      description: >-
        Runner image; folded text that must not be reflowed
        by the rewrite.
      default: ${IMAGE}:0.0.1 # the release pins this
---
# jobs
.job:
  image:
    name: $GESTALT_IMAGE
  variables:
    GESTALT_IMAGE:
      value: $[[ inputs.image ]]
      expand: false
  script:
    - gestalt-deploy deploy
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'release-template-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function fixture(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const integrity = (bytes: Buffer): string => `sha256-${createHash('sha256').update(bytes).digest('base64')}`;

describe('scripts/release-template.mjs', () => {
  it('pins the image input default by version and digest, changing nothing else, and prints the integrity', async () => {
    const src = await fixture('plain.yml', FIXTURE);
    const out = join(dir, 'out/plain.yml');
    const r = run(src, IMAGE, '1.2.3', `sha256:${HEX}`, out);
    expect(r.code, r.stderr).toBe(0);

    const written = await readFile(out);
    expect(written.toString()).toBe(
      FIXTURE.replace(`default: ${IMAGE}:0.0.1 #`, `default: ${IMAGE}:1.2.3@sha256:${HEX} #`),
    );
    // GitLab's include:integrity format: sha256-<base64 of SHA-256 of the bytes>, the only line on stdout.
    expect(r.stdout).toBe(`${integrity(written)}\n`);
    expect(r.stdout.trim()).toMatch(/^sha256-[A-Za-z0-9+/]{43}=$/);

    const docs = parseAllDocuments(written.toString());
    if (!Array.isArray(docs)) throw new Error('no YAML documents written');
    expect(docs).toHaveLength(2);
    const header = docs[0]?.toJS() as { spec: { inputs: { image: { default: string } } } };
    expect(header.spec.inputs.image.default).toBe(`${IMAGE}:1.2.3@sha256:${HEX}`);
  });

  it('keeps a quoted default quoted, drops a leading "v" and accepts a bare hex digest', async () => {
    const src = await fixture('quoted.yml', FIXTURE.replace(`default: ${IMAGE}:0.0.1`, `default: "${IMAGE}:0.0.1"`));
    const out = join(dir, 'quoted.out.yml');
    const r = run(src, IMAGE, 'v2.0.0-rc.1', HEX, out);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(out, 'utf8')).toContain(`default: "${IMAGE}:2.0.0-rc.1@sha256:${HEX}" # the release pins this`);
  });

  it.each([
    ['a digest that is not sha256 hex', [IMAGE, '1.2.3', 'sha256:xyz']],
    ['a version with build metadata (no valid image tag)', [IMAGE, '1.2.3+build.5', HEX]],
    ['an image name that already has a tag', [`${IMAGE}:1`, '1.2.3', HEX]],
  ])('refuses %s with exit 2 and writes nothing', async (_what, args) => {
    const src = await fixture('refuse.yml', FIXTURE);
    const out = join(dir, 'refused.yml');
    const r = run(src, ...args, out);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a template without a spec header document or without an image input', async () => {
    const noHeader = await fixture('no-header.yml', '.job:\n  script: [true]\n');
    expect(run(noHeader, IMAGE, '1.2.3', HEX, join(dir, 'x.yml')).code).toBe(2);
    const noImage = await fixture('no-image.yml', 'spec:\n  inputs:\n    stage:\n      default: deploy\n---\n.job:\n  script: [true]\n');
    const r = run(noImage, IMAGE, '1.2.3', HEX, join(dir, 'y.yml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/spec\.inputs\.image\.default/);
  });

  it.skipIf(!existsSync(resolve(ROOT, 'templates/deploy.gitlab-ci.yml')))(
    "pins the repository's template (templates/deploy.gitlab-ci.yml)",
    async () => {
      const out = join(dir, 'deploy.gitlab-ci.yml');
      const r = run(resolve(ROOT, 'templates/deploy.gitlab-ci.yml'), IMAGE, '9.8.7', HEX, out);
      expect(r.code, r.stderr).toBe(0);
      const before = (await readFile(resolve(ROOT, 'templates/deploy.gitlab-ci.yml'), 'utf8')).split('\n');
      const after = (await readFile(out, 'utf8')).split('\n');
      expect(after).toHaveLength(before.length);
      const changed = after.filter((line, i) => line !== before[i]);
      expect(changed).toHaveLength(1);
      expect(changed[0]).toMatch(new RegExp(`default: "?${IMAGE.replaceAll('.', '\\.')}:9\\.8\\.7@sha256:${HEX}"?`));
    },
  );
});
