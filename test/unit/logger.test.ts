// The logger's output is read by GitLab (section markers) and by people (tables); both are checked byte for byte.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatTable } from '../../src/log/format.js';
import { createLogger } from '../../src/log/logger.js';
import type { LoggerOptions } from '../../src/log/logger.js';
import { redactor } from '../../src/log/redact.js';

const E = '\x1b[0K';
const T = 1_700_000_000; // seconds

function capture(options: Omit<LoggerOptions, 'write'>) {
  const out: string[] = [];
  const log = createLogger({ ...options, write: (text) => out.push(text) });
  return { log, out, text: () => out.join('') };
}

beforeEach(() => {
  vi.spyOn(Date, 'now').mockReturnValue(T * 1000 + 789);
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('createLogger: lines', () => {
  it('prefixes warnings and errors and ends every line with a newline', () => {
    const { log, out } = capture({ debug: false, gitlab: true });
    log.info('hello');
    log.warn('careful');
    log.error('broken');
    expect(out).toEqual(['hello\n', 'WARNING: careful\n', 'ERROR: broken\n']);
  });

  it('prints debug lines only when debug is on', () => {
    const quiet = capture({ debug: false, gitlab: false });
    quiet.log.debug('details');
    expect(quiet.out).toEqual([]);
    expect(quiet.log.debugEnabled).toBe(false);

    const loud = capture({ debug: true, gitlab: false });
    loud.log.debug('details');
    expect(loud.out).toEqual(['[debug] details\n']);
    expect(loud.log.debugEnabled).toBe(true);
  });

  it('redacts every kind of line, section titles included', async () => {
    redactor.add('logger-secret-42');
    const { log, text } = capture({ debug: true, gitlab: true });
    log.info('i logger-secret-42');
    log.warn('w logger-secret-42');
    log.error('e logger-secret-42');
    log.debug('d Authorization: Bearer abcdef');
    await log.section('s', 'title logger-secret-42', async () => undefined);
    expect(text()).not.toContain('logger-secret-42');
    expect(text()).not.toContain('abcdef');
    expect(text()).toContain('i [REDACTED]\n');
    expect(text()).toContain('WARNING: w [REDACTED]\n');
    expect(text()).toContain('ERROR: e [REDACTED]\n');
    expect(text()).toContain('[debug] d Authorization: Bearer [REDACTED]\n');
    expect(text()).toContain(`\r${E}title [REDACTED]\n`);
  });
});

describe('createLogger: sections', () => {
  it('writes GitLab collapsed section markers around the body, in order', async () => {
    const { log, out } = capture({ debug: false, gitlab: true });
    const result = await log.section('upload', 'Uploading packages', async () => {
      log.info('inside');
      return 42;
    });
    expect(result).toBe(42);
    expect(out).toEqual([
      `${E}section_start:${T}:gestalt_upload[collapsed=true]\r${E}Uploading packages\n`,
      'inside\n',
      `${E}section_end:${T}:gestalt_upload\r${E}\n`,
    ]);
  });

  it('leaves sections expanded when collapsed is false or debug is on', async () => {
    for (const opts of [{ debug: false, collapsed: false }, { debug: true }]) {
      const { log, out } = capture({ gitlab: true, ...opts });
      await log.section('deploy', 'Deploying', async () => undefined);
      expect(out[0]).toBe(`${E}section_start:${T}:gestalt_deploy\r${E}Deploying\n`);
    }
  });

  it('closes the section when the body throws, and rethrows the same error', async () => {
    const { log, out } = capture({ debug: false, gitlab: true });
    const boom = new Error('boom');
    await expect(log.section('x', 'X', async () => Promise.reject(boom))).rejects.toBe(boom);
    expect(out.at(-1)).toBe(`${E}section_end:${T}:gestalt_x\r${E}\n`);
  });

  it('prints a plain heading and no escape codes outside GitLab', async () => {
    const { log, out, text } = capture({ debug: false, gitlab: false });
    await log.section('report', 'Report', async () => log.info('body'));
    expect(out).toEqual(['── Report\n', 'body\n']);
    expect(text()).not.toContain('\x1b');
  });
});

describe('formatTable', () => {
  it('pads columns to the widest cell, separates with two spaces, underlines, trims line ends', () => {
    const table = formatTable(['name', 'action', 'url'], [
      ['acme/main/a.zip', 'created', 'https://x/a'],
      ['b', 'unchanged', ''],
    ]);
    expect(table.split('\n')).toEqual([
      'name             action     url',
      '---------------  ---------  -----------',
      'acme/main/a.zip  created    https://x/a',
      'b                unchanged',
    ]);
  });

  it('sizes columns by the header when there are no rows, and tolerates short rows', () => {
    expect(formatTable(['function', 'action'], [])).toBe('function  action\n--------  ------');
    expect(formatTable(['a', 'b', 'c'], [['xyz']]).split('\n')).toEqual(['a    b  c', '---  -  -', 'xyz']);
  });
});

describe('createLogger: control characters', () => {
  it('escapes everything but line breaks and tabs, so a message cannot rewrite the log line it is on', () => {
    const { log, out } = capture({ debug: false, gitlab: true });
    log.info('a\tb\nsecond line\rover\x1b[2Kwritten');
    expect(out).toEqual(['a\tb\nsecond line\\rover\\x1b[2Kwritten\n']);
  });

  it('escapes a section title too, keeping GitLab\'s own markers intact', () => {
    const { log, text } = capture({ debug: false, gitlab: true });
    return log.section('x', 'title\r\x1b[31m', async () => undefined).then(() => {
      expect(text()).toContain(`${E}title\\r\\x1b[31m\n`);
      expect(text()).toContain(`section_start:${T}:gestalt_x[collapsed=true]\r${E}`);
    });
  });
});
