// The release half of .gitlab-ci.yml, end to end, through gitlab-ci-local on a semver tag:
//   image-build (buildah, multi-arch manifest list, pushed to an internal tag) -> image-release (skopeo: version
//   tags, same digest) -> template-release (template pinned by version and digest, uploaded, integrity in the
//   notes) -> release.
// Stand-ins: Debian's docker-registry over TLS on 127.0.0.1 (trusted through SSL_CERT_FILE, as a registry with a
// private CA would be), scripts/image/assemble-base.sh's base as BASE_IMAGE, a loopback generic package registry.
// Finally the image reference the published template carries is pulled by digest and run.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  copyRepository,
  ROOT,
  runGitlabCiLocal,
  startPackageRegistry,
  type PackageRegistry,
  type Repository,
} from '../pipeline/project-ci-support.js';

const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const missing = [
  ['buildah', '--version'],
  ['skopeo', '--version'],
  ['docker-registry', '--version'],
  ['openssl', 'version'],
].filter(([cmd, ...args]) => !has(cmd as string, ...args)).map(([cmd]) => cmd as string);
// In CI a missing tool is a broken setup, not a reason to skip.
const skipReason =
  !has('buildah', '--version') && !process.env.CI
    ? 'buildah is not installed (apt-get install -y buildah busybox-static skopeo docker-registry) and CI is not set'
    : '';

const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { version: string };
const REPOSITORY = 'gestalt-deploy/gestalt-deploy';
const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];

async function freePort(): Promise<number> {
  return new Promise((r, j) => {
    const s = createServer();
    s.on('error', j);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => r(port));
    });
  });
}

interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function httpsGet(url: string, ca: string, method = 'GET', accept = INDEX_TYPES.join(', ')): Promise<HttpsAnswer> {
  return new Promise((r, j) => {
    const req = request(url, { method, ca, headers: { accept } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => r({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', j);
    req.end();
  });
}

interface Registry {
  host: string;
  ca: string;
  caFile: string;
  stop(): Promise<void>;
}

async function startRegistry(dir: string): Promise<Registry> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'registry.key'), '-out', join(dir, 'registry.crt'),
  ], { stdio: 'ignore' });
  await writeFile(
    join(dir, 'registry.yml'),
    [
      'version: 0.1',
      'log: { level: warn }',
      `storage: { filesystem: { rootdirectory: ${join(dir, 'registry-data')} } }`,
      `http: { addr: "${host}", tls: { certificate: ${join(dir, 'registry.crt')}, key: ${join(dir, 'registry.key')} } }`,
      '',
    ].join('\n'),
  );
  const ca = await readFile(join(dir, 'registry.crt'), 'utf8');
  // buildah and skopeo (Go) trust what SSL_CERT_FILE lists: the machine's bundle plus this registry's certificate.
  const caFile = join(dir, 'ca-bundle.crt');
  await writeFile(caFile, `${await readFile('/etc/ssl/certs/ca-certificates.crt', 'utf8')}\n${ca}`);
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'registry.yml')], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      if ((await httpsGet(`https://${host}/v2/`, ca)).status === 200) break;
    } catch {
      if (i > 100) throw new Error('docker-registry did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    ca,
    caFile,
    stop: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        child.on('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
}

describe.skipIf(skipReason !== '')(`release pipeline on a semver tag${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let dir: string;
  let storageConf: string;
  let repo: Repository;
  let registry: Registry;
  let packages: PackageRegistry;
  let baseRef: string;

  const buildah = (...args: string[]): string =>
    execFileSync('buildah', args, { encoding: 'utf8', env: { ...process.env, CONTAINERS_STORAGE_CONF: storageConf } });

  beforeAll(async () => {
    expect(missing, `tools missing: ${missing.join(', ')}`).toEqual([]);
    dir = await mkdtemp(join(tmpdir(), 'gestalt-release-pipeline-'));
    // A storage of its own (the base cached in it between runs), so removing this test's images cannot race the
    // image test's build.
    const cache = process.env.GESTALT_IMAGE_CACHE ?? join(tmpdir(), 'gestalt-deploy-image');
    const storage = join(cache, 'buildah-release-pipeline');
    await mkdir(storage, { recursive: true });
    storageConf = join(storage, 'storage.conf');
    await writeFile(storageConf, `[storage]\ndriver = "vfs"\ngraphroot = "${storage}/storage"\nrunroot = "${storage}/run"\n`);
    baseRef = execFileSync(resolve(ROOT, 'scripts/image/assemble-base.sh'), [], {
      encoding: 'utf8',
      env: { ...process.env, CONTAINERS_STORAGE_CONF: storageConf, GESTALT_IMAGE_CACHE: cache },
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    registry = await startRegistry(dir);
    packages = await startPackageRegistry();
    repo = await copyRepository();
  }, 180_000);

  afterAll(async () => {
    await registry?.stop();
    await packages?.close();
    await repo?.remove();
    if (storageConf) {
      // Everything but the cached base goes: the pushed lists, their images, the pulled image, the test's container.
      const env = { ...process.env, CONTAINERS_STORAGE_CONF: storageConf };
      spawnSync('buildah', ['rm', '--all'], { env });
      for (const line of buildah('images', '--format', '{{.ID}} {{.Name}}:{{.Tag}}').split('\n')) {
        const [id, name] = line.split(' ');
        if (!id || !name?.startsWith(`${registry?.host}/`)) continue;
        spawnSync('buildah', ['manifest', 'rm', name], { env });
        spawnSync('buildah', ['rmi', '-f', id], { env });
      }
      spawnSync('buildah', ['rmi', '--prune'], { env });
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  it(
    'builds and pushes both platforms, tags the version with the same digest, publishes the pinned template, releases',
    async () => {
      const registryImage = `${registry.host}/${REPOSITORY}`;
      const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo.dir, encoding: 'utf8' }).trim();
      const r = await runGitlabCiLocal(
        repo,
        [
          'release',
          '--needs',
          ...[
            `CI_COMMIT_TAG=${pkg.version}`,
            `CI_REGISTRY=${registry.host}`,
            `CI_REGISTRY_IMAGE=${registryImage}`,
            'CI_REGISTRY_USER=gitlab-ci-token',
            'CI_REGISTRY_PASSWORD=registry-password-of-this-test',
            `BASE_IMAGE=${baseRef.slice(0, baseRef.lastIndexOf(':'))}`,
            `CI_API_V4_URL=${packages.url}/api/v4`,
            'CI_JOB_TOKEN=job-token-of-this-test',
          ].flatMap((v) => ['--variable', v]),
        ],
        {
          env: {
            CONTAINERS_STORAGE_CONF: storageConf,
            SSL_CERT_FILE: registry.caFile,
            REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
            ...(existsSync('/etc/ssl/certs/ca-certificates.crt') ? { NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' } : {}),
          },
          timeoutMs: 420_000,
        },
      );
      expect(r.code, r.output.slice(-6000)).toBe(0);
      for (const job of ['image-build', 'image-release', 'template-release', 'release']) {
        expect(r.output).toMatch(new RegExp(`PASS\\s+${job}\\b`));
      }

      // The registry: the internal tag and the version tags, one manifest list (both platforms), one digest.
      const tags = JSON.parse((await httpsGet(`https://${registry.host}/v2/${REPOSITORY}/tags/list`, registry.ca, 'GET', 'application/json')).body) as { tags: string[] };
      const [major, minor] = pkg.version.split('.');
      expect(tags.tags.sort()).toEqual([`internal-${sha}`, pkg.version, `${major}.${minor}`, `${major}`, 'latest'].sort());
      const digests = new Set<string>();
      for (const tag of tags.tags) {
        const m = await httpsGet(`https://${registry.host}/v2/${REPOSITORY}/manifests/${tag}`, registry.ca);
        expect(m.status).toBe(200);
        expect(INDEX_TYPES).toContain(String(m.headers['content-type']));
        expect(createHash('sha256').update(m.body).digest('hex')).toBe(String(m.headers['docker-content-digest']).slice('sha256:'.length));
        const platforms = (JSON.parse(m.body) as { manifests: { platform: { os: string; architecture: string } }[] }).manifests.map(
          (x) => `${x.platform.os}/${x.platform.architecture}`,
        );
        expect(platforms.sort()).toEqual(['linux/amd64', 'linux/arm64']);
        digests.add(String(m.headers['docker-content-digest']));
      }
      expect(digests.size).toBe(1);
      const [digest] = [...digests];

      // The published template carries that digest, was uploaded byte for byte, and the notes carry its integrity.
      const published = await readFile(join(repo.dir, 'public/deploy.gitlab-ci.yml'));
      const docs = parseAllDocuments(published.toString());
      if (!Array.isArray(docs)) throw new Error('published template has no documents');
      const pinned = (docs[0]?.toJS() as { spec: { inputs: { image: { default: string } } } }).spec.inputs.image.default;
      expect(pinned).toBe(`${registryImage}:${pkg.version}@${digest}`);
      expect(packages.uploads.at(-1)?.body.equals(published)).toBe(true);
      const notes = await readFile(join(repo.dir, 'release-notes.md'), 'utf8');
      expect(notes).toContain(`integrity: sha256-${createHash('sha256').update(published).digest('base64')}`);

      // What a user's job gets from that reference: pulled by digest, it runs the runner as non-root.
      const env = { ...process.env, CONTAINERS_STORAGE_CONF: storageConf, SSL_CERT_FILE: registry.caFile };
      const ctr = execFileSync('buildah', ['from', '--pull-always', pinned], { encoding: 'utf8', env }).trim().split('\n').at(-1) ?? '';
      const run = (...cmd: string[]): string =>
        execFileSync('buildah', ['run', '--isolation', 'chroot', ctr, '--', ...cmd], { encoding: 'utf8', env }).trim();
      expect(run('gestalt-deploy', '--version')).toBe(pkg.version);
      expect(run('id', '-u')).not.toBe('0');
    },
    480_000,
  );
});
