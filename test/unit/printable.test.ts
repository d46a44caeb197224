// Names and remote text are printed escaped so they cannot forge or rewrite log lines.
import { describe, expect, it } from 'vitest';
import { escapeControl, hasControlChars } from '../../src/log/printable.js';

describe('hasControlChars', () => {
  it.each(['a\nb', 'a\rb', 'tab\there', 'esc\x1b[31m', 'del\x7f', 'c1\x85', 'ls\u2028', 'bidi\u202e', 'isolate\u2066', 'nul\0'])('finds one in %j', (text) => {
    expect(hasControlChars(text)).toBe(true);
  });

  it.each(['plain.zip', 'dist/ünïcødé-名前.zip', 'spaces and (parens) [ok].zip', ''])('finds none in %j', (text) => {
    expect(hasControlChars(text)).toBe(false);
  });

  it('gives the same answer when asked twice (no regex state left behind)', () => {
    expect([hasControlChars('a\nb'), hasControlChars('a\nb'), hasControlChars('x')]).toEqual([true, true, false]);
  });
});

describe('escapeControl', () => {
  it('writes line breaks and tabs by name and the rest as \\xNN or \\uNNNN', () => {
    expect(escapeControl('x\n[ ok ] fake\r\t\x1b[0m\x00\u202e.zip')).toBe('x\\n[ ok ] fake\\r\\t\\x1b[0m\\x00\\u202e.zip');
  });

  it('keeps the characters it is told to keep, and everything printable', () => {
    expect(escapeControl('line 1\nline 2\tend\r', '\n\t')).toBe('line 1\nline 2\tend\\r');
    expect(escapeControl('ünïcødé 名前 \\ backslash')).toBe('ünïcødé 名前 \\ backslash');
  });
});
