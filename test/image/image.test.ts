// Builds the real Dockerfile with buildah on a locally assembled base and runs the runner inside the image
// (scripts/image/test-image.sh does the work and fails on any broken check; this file asserts on its report).
// No Docker engine or registry exists here: see docs/testing.md, "The container image".
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const hasBuildah = spawnSync('buildah', ['--version'], { stdio: 'ignore' }).status === 0;
// In CI a missing buildah is a broken setup, not a reason to skip.
const skipReason = !hasBuildah && !process.env.CI ? 'buildah is not installed (apt-get install -y buildah busybox-static) and CI is not set' : '';
const TIMEOUT_MS = 300_000;
const PROJECT_LAYER_LIMIT = 5 * 1024 * 1024;

interface ImageReport {
  nodeVersion: string;
  imageNode: string;
  version: string;
  uid: number;
  config: { user: string; entrypoint: string[] | null; cmd: string[] | null; labels: Record<string, string> };
  sizes: {
    image: { compressed: number; uncompressed: number };
    base: { compressed: number; uncompressed: number };
    added: { compressed: number; uncompressed: number; layers: number };
  };
  plan: string;
  /** `gestalt-deploy stop` under GESTALT_DEBUG with a directory where its report file goes. */
  debugStack: string;
  /** /usr/local/lib/gestalt-deploy/THIRD-PARTY-NOTICES.txt from the image. */
  notices: string;
  timingsMs: Record<string, number>;
}

function runScript(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [resolve(ROOT, 'scripts/image/test-image.sh')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), TIMEOUT_MS - 10_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

describe.skipIf(skipReason !== '')(`runner image${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it(
    'builds from the Dockerfile, runs gestalt-deploy as non-root on the base Node, plans against S3, adds under 5 MB',
    async () => {
      const { code, stdout, stderr } = await runScript();
      const line = stdout.split('\n').find((l) => l.startsWith('GESTALT_IMAGE_REPORT '));
      if (code !== 0 || !line) throw new Error(`scripts/image/test-image.sh exited ${code}:\n${stderr.slice(-6000)}`);
      const report = JSON.parse(line.slice('GESTALT_IMAGE_REPORT '.length)) as ImageReport;
      const pkg = JSON.parse(await readFile(resolve(ROOT, 'package.json'), 'utf8')) as { version: string; license: string };

      // The runner as a GitLab job would start it: the image's own user, no entrypoint in the way.
      expect(report.uid).not.toBe(0);
      expect(report.config.user).toMatch(/^[1-9]\d*(:\d+)?$/);
      expect(report.config.entrypoint).toBeNull();
      expect(report.version).toBe(pkg.version);
      // The bundle targets Node 20 and must also run on the image's Node major.
      expect(report.imageNode).toBe(`v${report.nodeVersion}`);

      expect(report.config.labels).toMatchObject({
        'org.opencontainers.image.title': 'gestalt-deploy',
        'org.opencontainers.image.version': pkg.version,
        'org.opencontainers.image.licenses': pkg.license,
      });
      expect(report.config.labels['org.opencontainers.image.revision']).toMatch(/^[0-9a-f]{40}$/);
      expect(report.config.labels['org.opencontainers.image.source']).toMatch(/^https:\/\//);

      expect(report.plan).toMatch(/upload/i);
      // The source map beside the bundle works on the image's Node; the notices beside it are the build's.
      expect(report.debugStack).toMatch(/ERROR: unexpected failure: EISDIR/);
      expect(report.debugStack).toMatch(/\/usr\/local\/lib\/src\/reports\/write\.ts:\d+:\d+/);
      expect(report.notices).toMatch(/^ {2}@aws-sdk\/client-s3@\S+ \(Apache-2\.0\)$/m);
      expect(report.notices).toMatch(/^ {2}yaml@\S+ \(ISC\)$/m);

      expect(report.sizes.added.layers).toBeGreaterThanOrEqual(1);
      expect(report.sizes.added.uncompressed).toBeLessThan(PROJECT_LAYER_LIMIT);
      expect(report.sizes.added.compressed).toBeLessThan(PROJECT_LAYER_LIMIT);

      const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`;
      console.log(
        `[image] image ${mb(report.sizes.image.compressed)} compressed / ${mb(report.sizes.image.uncompressed)} on disk; ` +
          `project adds ${mb(report.sizes.added.compressed)} / ${mb(report.sizes.added.uncompressed)}; ` +
          `timings ${JSON.stringify(report.timingsMs)}`,
      );
    },
    TIMEOUT_MS,
  );
});
