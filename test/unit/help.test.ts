import { describe, expect, it } from 'vitest';
import { KNOWN_VARIABLES } from '../../src/config/known-variables.js';
import { COMMANDS, commandHelp, generalHelp, parseArgs } from '../../src/run/help.js';

// The command line a user types, and what each wrong spelling of it says.

describe('parseArgs', () => {
  it('runs a command, with --debug anywhere', () => {
    expect(parseArgs(['deploy'])).toEqual({ kind: 'run', command: 'deploy', debug: false, dryRun: false });
    expect(parseArgs(['--debug', 'plan'])).toEqual({ kind: 'run', command: 'plan', debug: true, dryRun: false });
  });

  it('prune alone takes --dry-run; elsewhere it points at plan', () => {
    expect(parseArgs(['prune', '--dry-run'])).toEqual({ kind: 'run', command: 'prune', debug: false, dryRun: true });
    expect(parseArgs(['stop', '--dry-run'])).toMatchObject({ kind: 'usage', message: expect.stringMatching(/there is no --dry-run; 'gestalt-deploy plan'/) });
  });

  it('prints the help of a command for <command> --help, -h and help <command>', () => {
    for (const argv of [['stop', '--help'], ['stop', '-h'], ['help', 'stop'], ['--help', 'stop']]) expect(parseArgs(argv), argv.join(' ')).toEqual({ kind: 'print', text: commandHelp('stop') });
    expect(parseArgs(['--help'])).toEqual({ kind: 'print', text: generalHelp() });
    expect(parseArgs(['help'])).toEqual({ kind: 'print', text: generalHelp() });
  });

  it('says a command is missing, and shows the help with it', () => {
    const parsed = parseArgs([]);
    expect(parsed).toMatchObject({ kind: 'usage', message: expect.stringMatching(/^missing command; use one of deploy, stop, plan, doctor/), help: generalHelp() });
  });

  it('points --dry-run (and near spellings) at plan, and other unknown options at the nearest known one', () => {
    for (const option of ['--dry-run', '--dryrun', '--dry_run']) expect(parseArgs(['deploy', option])).toMatchObject({ kind: 'usage', message: expect.stringContaining("'gestalt-deploy plan' shows what deploy would do") });
    expect(parseArgs(['deploy', '--verbose'])).toMatchObject({ message: expect.stringContaining("did you mean '--debug'?") });
    expect(parseArgs(['plan', '--hlep'])).toMatchObject({ message: expect.stringMatching(/^plan: unknown option '--hlep'; did you mean '--help'\?/) });
    expect(parseArgs(['plan', '--region=eu'])).toMatchObject({ message: expect.stringMatching(/^plan: unknown option '--region=eu' Commands take no options/) });
  });

  it('suggests the nearest command, and refuses stray arguments', () => {
    expect(parseArgs(['deplyo'])).toMatchObject({ kind: 'usage', message: expect.stringMatching(/^unknown command 'deplyo'; did you mean 'deploy'\?/) });
    expect(parseArgs(['docter'])).toMatchObject({ message: expect.stringContaining("did you mean 'doctor'?") });
    expect(parseArgs(['help', 'stpo'])).toMatchObject({ message: expect.stringContaining("did you mean 'stop'?") });
    expect(parseArgs(['deploy', 'now'])).toMatchObject({ kind: 'usage', message: expect.stringMatching(/^unexpected argument 'now'/) });
  });
});

describe('the help texts', () => {
  it('name only variables the runner reads (or GitLab sets)', () => {
    const known = new Set<string>(KNOWN_VARIABLES);
    for (const text of [generalHelp(), ...COMMANDS.map(commandHelp)]) {
      for (const name of text.match(/\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b/g) ?? []) {
        if (name.startsWith('CI_') && name !== 'CI_URL') continue;
        expect(known, name).toContain(name);
      }
    }
  });
});
