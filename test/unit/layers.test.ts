// The source tree follows the data flow; a module may import only from its own layer or the ones below it.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

// Lowest first: shared foundations, then the stages in the order a deploy runs them, then the wiring.
const LAYERS = ['errors', 'version', 'log', 'net', 'config', 'credentials', 'artifacts', 'storage', 'record', 'history', 'gestalt', 'reports', 'run', 'main', 'cli'];

function layerOf(file: string): number {
  const top = relative(SRC, file).split('/')[0]?.replace(/\.ts$/, '') ?? '';
  const i = LAYERS.indexOf(top);
  if (i < 0) throw new Error(`${relative(SRC, file)} is in no known layer; add its folder to LAYERS`);
  return i;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

function localImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/from '(\.[^']+)'/g)].map((m) => resolve(dirname(file), (m[1] as string).replace(/\.js$/, '.ts')));
}

describe('source layers', () => {
  it('no module imports from a layer above its own', () => {
    const upward: string[] = [];
    for (const file of sources(SRC)) {
      for (const target of localImports(file)) {
        if (layerOf(target) > layerOf(file)) upward.push(`${relative(SRC, file)} → ${relative(SRC, target)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('config/ imports nothing from artifacts/', () => {
    const hits = sources(join(SRC, 'config')).flatMap((f) => localImports(f).filter((t) => relative(SRC, t).startsWith('artifacts/')).map((t) => `${relative(SRC, f)} → ${relative(SRC, t)}`));
    expect(hits).toEqual([]);
  });

  it('the check itself sees an upward import', () => {
    // A reports module importing from run/ must count as upward, or the first test proves nothing.
    expect(layerOf(join(SRC, 'run/deploy.ts'))).toBeGreaterThan(layerOf(join(SRC, 'reports/write.ts')));
  });
});
