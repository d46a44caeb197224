// The Redactor is the only thing between a secret and the job log / report files: every rule gets a test that
// shows the secret gone AND the surrounding text intact (a redactor that blanks everything would also "hide" it).
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/log/redact.js';

const M = '[REDACTED]';

describe('Redactor: registered secrets', () => {
  it('masks every occurrence of a registered secret and leaves the rest', () => {
    const r = new Redactor();
    r.add('s3cr3t-value');
    expect(r.redact('a s3cr3t-value b s3cr3t-value c')).toBe(`a ${M} b ${M} c`);
  });

  it('also masks the URL-encoded form of a secret', () => {
    const r = new Redactor();
    r.add('p@ss/w0rd+x');
    expect(encodeURIComponent('p@ss/w0rd+x')).toBe('p%40ss%2Fw0rd%2Bx');
    expect(r.redact('https://h/?secret=p%40ss%2Fw0rd%2Bx&a=1')).toBe(`https://h/?secret=${M}&a=1`);
    expect(r.redact('raw p@ss/w0rd+x')).toBe(`raw ${M}`);
  });

  it('masks the longest secret first, so a secret containing another is masked whole', () => {
    const r = new Redactor();
    r.add('abcd'); // registered first on purpose
    r.add('abcdefgh');
    expect(r.redact('x abcdefgh y')).toBe(`x ${M} y`);
    expect(r.redact('x abcd y')).toBe(`x ${M} y`);
  });

  it('ignores values shorter than 4 characters, empty and undefined', () => {
    const r = new Redactor();
    r.add('abc');
    r.add('');
    r.add(undefined);
    expect(r.redact('abc abcabc')).toBe('abc abcabc');
    r.add('abcd'); // exactly 4 counts
    expect(r.redact('abcd')).toBe(M);
  });

  it('is per instance: a secret added to one redactor does not affect another', () => {
    const a = new Redactor();
    const b = new Redactor();
    a.add('only-in-a');
    expect(b.redact('only-in-a')).toBe('only-in-a');
  });
});

describe('Redactor: secret shapes', () => {
  const r = new Redactor();

  it('masks presigned URL signatures and session tokens, keeping the other parameters', () => {
    const url =
      'https://b.s3.amazonaws.com/k.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Security-Token=IQoJb3JpZ2luX2Vj%2Fabc&X-Amz-Expires=60&X-Amz-Signature=0123abcdef&x-id=GetObject';
    expect(r.redact(url)).toBe(
      `https://b.s3.amazonaws.com/k.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Security-Token=${M}&X-Amz-Expires=60&X-Amz-Signature=${M}&x-id=GetObject`,
    );
  });

  it('masks the signature case-insensitively and stops at whitespace and quotes', () => {
    expect(r.redact("'x-amz-signature=deadbeef' next")).toBe(`'x-amz-signature=${M}' next`);
    expect(r.redact('<a href=u?X-Amz-Signature=beef>')).toBe(`<a href=u?X-Amz-Signature=${M}>`);
  });

  it('masks JWT-shaped strings (GitLab ID tokens) wherever they appear', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9qZWN0In0.c2lnbmF0dXJlLXBhcnQ';
    expect(r.redact(`token=${jwt}; next`)).toBe(`token=${M}; next`);
  });

  it('does not mistake ordinary dotted words for a JWT', () => {
    expect(r.redact('eyJ.short.x and file.name.zip')).toBe('eyJ.short.x and file.name.zip');
  });

  it('masks Authorization Basic and Bearer values in header form, any case', () => {
    expect(r.redact('Authorization: Basic dXNlcjpwYXNz')).toBe(`Authorization: Basic ${M}`);
    expect(r.redact('authorization: bearer abc.def-123 rest')).toBe(`authorization: bearer ${M} rest`);
    expect(r.redact('Authorization Bearer tok_12345')).toBe(`Authorization Bearer ${M}`);
  });

  // Defence in depth for logged header objects: JSON puts a quote between the name and the colon, which the
  // pattern's `Authorization:?\s*"?` does not allow (src/log/redact.ts:11), so the value survives.
  it('masks an Authorization value logged as a JSON header object', () => {
    expect(r.redact('{"Authorization":"Bearer abcdef123"}')).toBe(`{"Authorization":"Bearer ${M}"}`);
  });
});

describe('Redactor.redactDeep', () => {
  it('redacts every string in a nested report and keeps structure, numbers and booleans', () => {
    const r = new Redactor();
    r.add('hunter2-secret');
    const report = {
      status: 'failed',
      totals: { functions: 2, failed: 1 },
      ok: false,
      functions: [
        { name: 'a', url: 'https://b/k?X-Amz-Signature=abc123&x=1' },
        { name: 'b', error: 'refused hunter2-secret', nested: [['hunter2-secret']] },
      ],
    };
    expect(r.redactDeep(report)).toEqual({
      status: 'failed',
      totals: { functions: 2, failed: 1 },
      ok: false,
      functions: [
        { name: 'a', url: `https://b/k?X-Amz-Signature=${M}&x=1` },
        { name: 'b', error: `refused ${M}`, nested: [[M]] },
      ],
    });
    // The input is not mutated.
    expect(report.functions[1]?.error).toBe('refused hunter2-secret');
  });

  // Regression: redactDeep runs the patterns over the JSON text.
  // Inside JSON a double quote is written \" and the signature/Authorization value classes stop at `"` but not at
  // `\`, so they swallow the backslash; the remaining `"` then ends the JSON string and JSON.parse throws. A report
  // whose error message quotes a presigned URL (as ofetch's `[GET] "url": 403` does) makes writeReports crash.
  it('survives a double-quoted presigned URL inside a string', () => {
    const r = new Redactor();
    const out = r.redactDeep({ error: 'GET "https://b.s3.amazonaws.com/k?X-Amz-Signature=abc123" failed' });
    expect(out).toEqual({ error: `GET "https://b.s3.amazonaws.com/k?X-Amz-Signature=${M}" failed` });
  });

  it('survives a double-quoted Authorization header inside a string', () => {
    const r = new Redactor();
    expect(r.redactDeep({ e: 'sent "Authorization: Bearer xyz123"' })).toEqual({ e: `sent "Authorization: Bearer ${M}"` });
  });

  // Regression: a registered secret containing `"` or `\` is looked for verbatim in the JSON text,
  // where it appears escaped (\" or \\), so it reaches the report unmasked.
  it('masks a registered secret that contains a quote or backslash', () => {
    const r = new Redactor();
    r.add('pa"ss\\word');
    expect(r.redactDeep({ e: 'secret is pa"ss\\word here' })).toEqual({ e: `secret is ${M} here` });
  });
});

describe('Redactor: URL userinfo', () => {
  const r = new Redactor();

  it('masks user and password of any URL, keeping scheme, host and path', () => {
    expect(r.redact('GET https://deployer:s3cret@meta.example.com/root failed')).toBe(`GET https://${M}@meta.example.com/root failed`);
    expect(r.redact('see "http://only-user@h:8080/x"')).toBe(`see "http://${M}@h:8080/x"`);
    expect(r.redact('s3://key:secret@bucket/k')).toBe(`s3://${M}@bucket/k`);
  });

  it('leaves an @ in a path, query or e-mail address alone', () => {
    expect(r.redact('https://h.example.com/users/@me?by=a@b.c and ops@example.com')).toBe('https://h.example.com/users/@me?by=a@b.c and ops@example.com');
  });
});

describe('Redactor.quote: pieces of a secret in remote text', () => {
  it('masks any run of 8 or more characters taken from a registered secret, raw or URL-encoded', () => {
    const r = new Redactor();
    r.add('tok/abcdefghijklmnop');
    expect(r.quote("token 'tok/abcde…' expired")).toBe(`token '${M}…' expired`);
    expect(r.quote('…ghijklmnop, rest')).toBe(`…${M}, rest`);
    expect(r.quote(`q=${encodeURIComponent('tok/abcdefg')}`)).toBe(`q=${M}`);
  });

  it('leaves runs shorter than 8 characters, and secrets too short to have pieces', () => {
    const r = new Redactor();
    r.add('tok/abcdefghijklmnop');
    r.add('8charsec');
    expect(r.quote('tok/abc and hijklmn')).toBe('tok/abc and hijklmn');
    expect(r.quote('8charse 8charsec')).toBe(`8charse ${M}`);
  });

  it('masks two separate pieces separately and keeps the text between them', () => {
    const r = new Redactor();
    r.add('AAAABBBBCCCCDDDD');
    expect(r.quote('x AAAABBBB y CCCCDDDD z')).toBe(`x ${M} y ${M} z`);
  });

  it('is for remote text only: our own lines keep an 8-character coincidence (an account id)', () => {
    const r = new Redactor();
    r.add('weak-secret-0123456789');
    expect(r.redact('arn:aws:iam::123456789012:role/x')).toBe('arn:aws:iam::123456789012:role/x');
    expect(r.redact('weak-secret-0123456789')).toBe(M);
  });
});

describe('Redactor.quote', () => {
  it('redacts before cutting: a secret across the cut leaves neither a prefix nor half a mask', () => {
    const r = new Redactor();
    r.add('sEcReT-0123456789abcdef');
    const text = `${'x'.repeat(195)}sEcReT-0123456789abcdef tail`;
    expect(r.quote(text, 200)).toBe(`${'x'.repeat(195)}…`);
    expect(r.quote(`${'x'.repeat(100)}sEcReT-0123456789abcdef tail`, 200)).toBe(`${'x'.repeat(100)}${M} tail`);
  });

  it('puts the quote on one line, control characters escaped, and marks a cut with …', () => {
    const r = new Redactor();
    expect(r.quote('ERROR: a\n[ ok ] forged\r\x1b[2K', 200)).toBe('ERROR: a\\n[ ok ] forged\\r\\x1b[2K');
    expect(r.quote('y'.repeat(10), 4)).toBe('yyyy…');
    expect(r.quote('  short  ')).toBe('short');
  });

  it('reads a huge text only around the cut', () => {
    const r = new Redactor();
    r.add('needle-secret-value');
    const huge = `${'z'.repeat(50)}needle-secret-value${'z'.repeat(5_000_000)}`;
    expect(r.quote(huge, 100)).toBe(`${'z'.repeat(50)}${M}${'z'.repeat(40)}…`);
  });
});
