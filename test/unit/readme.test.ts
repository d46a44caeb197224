import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';

// The README's inputs and variables tables are the user's reference: they must say exactly what the
// template declares and what the configuration code reads.

const read = (path: string) => readFile(new URL(`../../${path}`, import.meta.url), 'utf8');

function tableRows(readme: string, name: string): string[][] {
  const block = readme.split(`<!-- ${name}:start -->`)[1]?.split(`<!-- ${name}:end -->`)[0] ?? '';
  return block
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
}

const unquote = (cell: string) => cell.replace(/^`|`$/g, '');

describe('README', () => {
  it('lists every variable the configuration reads, and no other', async () => {
    const readme = await read('README.md');
    const source = await read('src/config/env.ts');
    const read_ = new Set([...source.matchAll(/'((?:LAMBDA|GESTALT|GF|S3|AWS)_[A-Z0-9_]+|CI_URL)'/g)].map((m) => m[1] as string));
    const documented = tableRows(readme, 'variables').map((r) => unquote(r[0] ?? ''));
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...read_].sort());
  });

  it("lists every template input with its type and default", async () => {
    const readme = await read('README.md');
    const [header] = parseAllDocuments(await read('templates/deploy.gitlab-ci.yml'));
    const inputs = (header?.toJS() as { spec: { inputs: Record<string, { type?: string; default?: unknown }> } }).spec.inputs;
    const rows = tableRows(readme, 'inputs');
    expect(rows.map((r) => unquote(r[0] ?? '')).sort()).toEqual(Object.keys(inputs).sort());
    for (const [name, type, def] of rows) {
      const input = inputs[unquote(name ?? '')];
      expect(type).toBe(input?.type ?? 'string');
      expect(unquote(def ?? '')).toBe(String(input?.default));
    }
  });

  it('gives exactly the two contributor commands, and .ci/run runs the test command', async () => {
    const readme = await read('README.md');
    const contributing = readme.split('## Contributing')[1] ?? '';
    const commands = [...contributing.matchAll(/^(npm [^#\n]+?)\s+#/gm)].map((m) => m[1]);
    expect(commands).toEqual(['npm run demo', 'npm test']);
    expect(await read('.ci/run')).toMatch(/^npm test\b/m);
  });
});
