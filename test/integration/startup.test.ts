// What the bundle evaluates before it answers: --version and --help load only the argument parser, not the
// validation behind every command (yaml, fast-glob and node:crypto come with it). Which Node built-ins a run loaded
// is read from process.moduleLoadList, written at exit by a preload, so this needs no timing.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { jobEnv, makeProject, runCli } from '../support/run-cli.js';

/** Loaded by validation (and everything after it), never by the argument parser. */
const NOT_AT_START = ['NativeModule crypto', 'NativeModule fs/promises', 'NativeModule os'];

let preload: string;
beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'startup-loads-'));
  preload = join(dir, 'loaded.cjs');
  await writeFile(preload, "process.on('exit', () => require('node:fs').writeFileSync(process.env.LOADED_OUT, process.moduleLoadList.join('\\n')));\n");
});

async function loaded(args: string[], env: Record<string, string | undefined>, cwd: string): Promise<{ code: number; modules: string[] }> {
  const out = join(await mkdtemp(join(tmpdir(), 'startup-list-')), 'modules.txt');
  const r = await runCli(args, { env: { ...env, NODE_OPTIONS: `--require ${preload}`, LOADED_OUT: out }, cwd });
  return { code: r.code, modules: (await readFile(out, 'utf8')).split('\n') };
}

describe('start-up loads', () => {
  it.each(['--version', '--help', 'deploy --help'])('%s loads none of the validation', async (line) => {
    const cwd = await mkdtemp(join(tmpdir(), 'startup-'));
    const r = await loaded(line.split(' '), { PATH: process.env.PATH }, cwd);
    expect(r.code).toBe(0);
    expect(r.modules.filter((m) => NOT_AT_START.includes(m))).toEqual([]);
  });

  it('a command that validates loads them (the check sees what it looks for)', async () => {
    const cwd = await makeProject({ 'dist/fn.zip': 'x' });
    const r = await loaded(['plan'], jobEnv({ CI_PROJECT_DIR: cwd, LAMBDA_ARTIFACTS: 'dist/*.zip', S3_BUCKET_NAME: '' }), cwd);
    expect(r.code).toBe(2);
    expect(NOT_AT_START.filter((m) => r.modules.includes(m))).toEqual(NOT_AT_START);
  });
});
