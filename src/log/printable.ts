// Control characters in a file name, a function name or a remote answer would let it forge log lines
// ("x\n[ ok ] fake line.zip") or rewrite them in GitLab's log (\r, ANSI escapes). Such text is printed escaped.

// C0 controls, DEL, C1 controls, Unicode line/paragraph separators and the bidirectional overrides and isolates.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function hasControlChars(text: string): boolean {
  CONTROL.lastIndex = 0;
  return CONTROL.test(text);
}

/** The text with every control character written as an escape (\n, \x1b, \u202e); `keep` lists ones left as they are. */
export function escapeControl(text: string, keep = ''): string {
  return text.replace(CONTROL, (c) => {
    if (keep.includes(c)) return c;
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
