// The Debian packages the tests and the demo need beyond Node and Python, in one list, and the one place that
// installs them: `node scripts/system-packages.mjs pipelines [image]`. Already installed: does nothing.
// Missing: installs them with apt-get when run as root (as on the project's Debian machines), otherwise says
// which command to run and exits 2.
import { spawnSync } from 'node:child_process';

const GROUPS = {
  // gitlab-ci-local copies the project and the jobs' artifacts with rsync; the pipeline tests drive git and curl.
  pipelines: ['rsync', 'git', 'curl'],
  // The image tests: buildah builds the real Dockerfile on a base assembled with busybox-static; the release
  // pipeline pushes to Debian's docker-registry over TLS (certificate from openssl) and retags with skopeo.
  image: ['buildah', 'busybox-static', 'skopeo', 'docker-registry', 'openssl'],
};

const groups = process.argv.slice(2);
const unknown = groups.filter((g) => !Object.hasOwn(GROUPS, g));
if (groups.length === 0 || unknown.length > 0) {
  console.error(`usage: node scripts/system-packages.mjs ${Object.keys(GROUPS).join('|')} [...]${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
  process.exit(2);
}

const wanted = [...new Set(groups.flatMap((g) => GROUPS[g]))];
const installed = (name) =>
  spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' }).stdout?.endsWith('install ok installed') ?? false;
const missing = wanted.filter((name) => !installed(name));
if (missing.length === 0) process.exit(0);

const command = `apt-get install -y ${missing.join(' ')}`;
const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasApt || process.getuid?.() !== 0) {
  console.error(`The ${groups.join(' and ')} tests need the Debian packages ${missing.join(', ')}: install them as root with \`${command}\`.`);
  process.exit(2);
}

console.error(`[setup] installing ${missing.join(', ')} with apt-get (needed by the ${groups.join(' and ')} tests)`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const apt = (...args) => spawnSync('apt-get', ['-qq', ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] }).status === 0;
if (!apt('update') || !apt('install', '-y', ...missing)) {
  console.error(`apt-get could not install ${missing.join(', ')}: run \`apt-get update && ${command}\` and read its error.`);
  process.exit(1);
}
// Debian's docker-registry starts a registry on :5000 for all interfaces; the tests start their own on 127.0.0.1.
if (missing.includes('docker-registry')) spawnSync('systemctl', ['disable', '--now', 'docker-registry'], { stdio: 'ignore' });
