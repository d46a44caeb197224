// Reading the original deployment lambda's answers: JSON on success; on failure HTTP 200 with its plain-text log,
// each line ending in "\r\n\r\n". Anything but a JSON success is a failure, explained in one sentence.
import { describe, expect, it } from 'vitest';
import { explainLog, parseDeployAnswer, parseStopAnswer } from '../../src/gestalt/gateway/answer.js';

/** The original's log: payload, context (with the caller's Authorization value), then the ERROR line. */
function originalLog(...errorLines: string[]): string {
  return [
    `args : ${JSON.stringify({ file: 'hello.zip', api: 'acme', env_id: 'e-1' }, null, 2)}`,
    `context : ${JSON.stringify({ creds: 'Basic a2V5OnNlY3JldA==' }, null, 2)}`,
    '[init] found meta: http://meta.gestalt.svc:14374',
    ...errorLines,
  ].map((l) => `${l}\r\n\r\n`).join('');
}

describe('parseDeployAnswer', () => {
  it('accepts the created answer (pretty JSON with a trailing newline)', () => {
    const text = `${JSON.stringify({ lambda: 'lambda created', api_endpoint: 'created', external_url: 'https://gw.example.com/acme/lambdas/main/hello.zip' }, null, 2)}\n`;
    expect(parseDeployAnswer(text)).toEqual({
      ok: true,
      value: { lambda: 'lambda created', api_endpoint: 'created', external_url: 'https://gw.example.com/acme/lambdas/main/hello.zip' },
    });
  });

  it('accepts the patched answer and drops non-string extras', () => {
    expect(parseDeployAnswer('{"lambda":"lambda patched","api_endpoint":"already existed","external_url":null}')).toEqual({
      ok: true,
      value: { lambda: 'lambda patched', api_endpoint: 'already existed', external_url: undefined },
    });
    expect(parseDeployAnswer('{"lambda":"lambda created"}')).toEqual({ ok: true, value: { lambda: 'lambda created', api_endpoint: undefined, external_url: undefined } });
  });

  it.each([
    ['ERROR: could not find target API', "'ERROR: could not find target API': check LAMBDA_API names an API in that environment"],
    ['ERROR: could not find target environment', "'ERROR: could not find target environment': check LAMBDA_ENVIRONMENT_ID is the id of an environment in that org"],
    ['ERROR: could not find target org', "'ERROR: could not find target org': the lambda's TARGET_ORG does not name an org it can see; fix the deployment lambda's TARGET_ORG variable"],
    ['ERROR: error creating lambda: 400 Bad Request', "'ERROR: error creating lambda: 400 Bad Request': Meta refused the lambda; check LAMBDA_RUNTIME and the deployment lambda's LAMBDA_PROVIDER_ID"],
    ['ERROR: something nobody expected', "'ERROR: something nobody expected'"],
  ])('a 200 log with %s is a failure with advice', (errorLine, explained) => {
    expect(parseDeployAnswer(originalLog(errorLine))).toEqual({ ok: false, reason: `answered with a log instead of JSON: ${explained}` });
  });

  it('never quotes the credentials the log contains', () => {
    const parsed = parseDeployAnswer(originalLog('ERROR: could not find target API'));
    expect(parsed.ok).toBe(false);
    expect(JSON.stringify(parsed)).not.toContain('a2V5OnNlY3JldA==');
  });

  it('an empty body is a failure that says so', () => {
    expect(parseDeployAnswer('')).toEqual({ ok: false, reason: "answered with a log instead of JSON: '(empty answer)'" });
    expect(parseDeployAnswer(' \r\n ')).toEqual({ ok: false, reason: "answered with a log instead of JSON: '(empty answer)'" });
  });

  it('JSON without a lambda result is a failure that shows the JSON', () => {
    expect(parseDeployAnswer('{"api_endpoint":"created"}')).toEqual({ ok: false, reason: 'answered JSON without a lambda result: {"api_endpoint":"created"}' });
    expect(parseDeployAnswer('{"lambda":"lambda failed"}')).toEqual({ ok: false, reason: 'answered JSON without a lambda result: {"lambda":"lambda failed"}' });
    expect(parseDeployAnswer('{"lambda":42}').ok).toBe(false);
  });

  it('cuts the shown JSON at 200 characters', () => {
    const reason = (parseDeployAnswer(JSON.stringify({ message: 'x'.repeat(500) })) as { reason: string }).reason;
    expect(reason).toBe(`answered JSON without a lambda result: ${'{"message":"'.concat('x'.repeat(188))}…`);
  });

  it('JSON that is not an object is treated as a log', () => {
    expect(parseDeployAnswer('["lambda created"]')).toEqual({ ok: false, reason: `answered with a log instead of JSON: '["lambda created"]'` });
    expect(parseDeployAnswer('null')).toEqual({ ok: false, reason: "answered with a log instead of JSON: 'null'" });
  });
});

describe('parseStopAnswer', () => {
  it('reads a removed lambda and its endpoints', () => {
    expect(parseStopAnswer('{\n  "lambda_name": "lambdas/main/hello.zip",\n  "endpoints": ["lambdas/main/hello.zip"]\n}\n')).toEqual({ ok: true, value: { removed: true, endpoints: 1 } });
  });

  it('reads an empty object as "already gone"', () => {
    expect(parseStopAnswer('{}\n')).toEqual({ ok: true, value: { removed: false, endpoints: 0 } });
  });

  it('a log is a failure with advice', () => {
    expect(parseStopAnswer(originalLog('ERROR: could not find target environment'))).toEqual({
      ok: false,
      reason: "answered with a log instead of JSON: 'ERROR: could not find target environment': check LAMBDA_ENVIRONMENT_ID is the id of an environment in that org",
    });
    expect(parseStopAnswer('')).toEqual({ ok: false, reason: "answered with a log instead of JSON: '(empty answer)'" });
  });
});

describe('explainLog', () => {
  it('picks the first ERROR line, trimmed', () => {
    expect(explainLog('info\r\n\r\n   ERROR: first   \r\n\r\nERROR: second\r\n')).toBe("'ERROR: first'");
  });

  it('matches ERROR as a word only', () => {
    expect(explainLog('TERRORS ahead\nERRORS too\nreal ERROR here')).toBe("'real ERROR here'");
  });

  it('without an ERROR line shows the first line', () => {
    expect(explainLog('\n  <html>Bad Gateway</html>\nmore')).toBe("'<html>Bad Gateway</html>'");
    expect(explainLog('TypeError: payload is missing git_sha\n')).toBe("'TypeError: payload is missing git_sha'");
  });

  it('cuts long lines at 200 characters', () => {
    expect(explainLog(`ERROR: ${'y'.repeat(300)}`)).toBe(`'ERROR: ${'y'.repeat(193)}…'`);
  });

  it('matches known errors case-insensitively', () => {
    expect(explainLog('ERROR: Could Not Find Target API acme')).toBe("'ERROR: Could Not Find Target API acme': check LAMBDA_API names an API in that environment");
  });
});
