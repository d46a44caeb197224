// Static checks of the Dockerfile and its build context rules; they need no buildah, so they run everywhere.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dockerfile = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8');

interface Instruction {
  cmd: string;
  args: string;
}

function parse(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l);
      return { cmd: (m?.[1] ?? '').toUpperCase(), args: m?.[2] ?? '' };
    });
}

const instructions = parse(dockerfile);
const globalArgs = new Map<string, string>();
for (const i of instructions) {
  if (i.cmd === 'FROM') break;
  if (i.cmd === 'ARG') {
    const [name, value] = i.args.split('=');
    if (name && value !== undefined) globalArgs.set(name, value);
  }
}
const expand = (s: string): string => s.replace(/\$\{?(\w+)\}?/g, (_, n: string) => globalArgs.get(n) ?? `$${n}`);

const stages: Instruction[][] = [];
for (const i of instructions) {
  if (i.cmd === 'FROM') stages.push([]);
  stages.at(-1)?.push(i);
}
const finalStage = stages.at(-1) ?? [];
const buildStage = stages[0] ?? [];
const fromRef = (stage: Instruction[]): string => (stage[0]?.args ?? '').split(/\s+/).filter((w) => !w.startsWith('--'))[0] ?? '';

describe('Dockerfile', () => {
  it('has a build stage and a final stage, both on a tagged Node LTS Alpine base given by arguments', () => {
    expect(stages).toHaveLength(2);
    expect(globalArgs.get('BASE_IMAGE')).toBeTruthy();
    const nodeVersion = globalArgs.get('NODE_VERSION') ?? '';
    expect(nodeVersion).toMatch(/^\d+\.\d+\.\d+$/);
    // LTS lines are the even majors; 20 is the bundle's floor (package.json engines).
    const major = Number(nodeVersion.split('.')[0]);
    expect(major % 2).toBe(0);
    expect(major).toBeGreaterThanOrEqual(22);
    for (const stage of stages) {
      const ref = fromRef(stage);
      expect(ref).toContain('${BASE_IMAGE}');
      expect(ref).toContain('${NODE_VERSION}');
      const image = expand(ref);
      expect(image).toMatch(/^[^@]+:[^:/@]+$/);
      expect(image.split(':').at(-1)).toMatch(/^\d+\.\d+\.\d+-alpine$/);
    }
  });

  it('bundles on the build platform and has no RUN in the final stage, so multi-arch builds need no emulation', () => {
    expect(buildStage[0]?.args).toMatch(/^--platform=\$BUILDPLATFORM\s/);
    expect(buildStage.some((i) => i.cmd === 'RUN' && /npm ci\b/.test(i.args))).toBe(true);
    expect(buildStage.some((i) => i.cmd === 'RUN' && /npm run build\b/.test(i.args))).toBe(true);
    expect(finalStage.filter((i) => i.cmd === 'RUN')).toEqual([]);
    const copies = finalStage.filter((i) => i.cmd === 'COPY' || i.cmd === 'ADD');
    expect(copies).toEqual([{ cmd: 'COPY', args: '--from=build /out/ /usr/local/' }]);
  });

  it('runs as a numeric non-root user, with a shell-friendly (empty) entrypoint', () => {
    const user = finalStage.filter((i) => i.cmd === 'USER').at(-1)?.args ?? '';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(user.split(':')[0]).not.toBe('0');
    expect(finalStage.filter((i) => i.cmd === 'ENTRYPOINT').at(-1)?.args).toBe('[]');
    expect(JSON.parse(finalStage.filter((i) => i.cmd === 'CMD').at(-1)?.args ?? 'null')).toEqual(['gestalt-deploy', '--help']);
  });

  it('labels the image with the OCI title, version, revision, source and licenses', () => {
    const labels = finalStage
      .filter((i) => i.cmd === 'LABEL')
      .map((i) => i.args)
      .join(' ');
    for (const key of ['title', 'version', 'revision', 'source', 'licenses']) {
      expect(labels).toMatch(new RegExp(`org\\.opencontainers\\.image\\.${key}=`));
    }
    const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { license: string };
    expect(labels).toContain(`org.opencontainers.image.licenses="${pkg.license}"`);
  });

  it('passes dockerfilelint', () => {
    const r = spawnSync(resolve(ROOT, 'node_modules/.bin/dockerfilelint'), ['Dockerfile'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain('Issues: None found');
    expect(r.status).toBe(0);
  });
});

describe('.dockerignore', () => {
  const rules = readFileSync(resolve(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('excludes everything but what the build stage reads', () => {
    expect(rules[0]).toBe('*');
    const allowed = rules.filter((r) => r.startsWith('!')).map((r) => r.slice(1));
    expect(allowed).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src/', 'scripts/build.mjs']));
    for (const p of allowed) expect(p).not.toMatch(/^(node_modules|dist|\.git|test)/);
    // Every file the Dockerfile copies in must be allowed in.
    for (const i of buildStage.filter((x) => x.cmd === 'COPY' && !x.args.startsWith('--from'))) {
      const sources = i.args.split(/\s+/).slice(0, -1);
      for (const s of sources) expect(allowed).toContain(s);
    }
  });
});
