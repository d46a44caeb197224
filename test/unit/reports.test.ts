// The files GitLab reads after the job: dotenv (environment URL), the JSON report, annotations. Written to a temp
// dir and read back byte for byte.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redactor } from '../../src/log/redact.js';
import type { FunctionReport, RunReport } from '../../src/reports/types.js';
import { formatBytes } from '../../src/log/format.js';
import { environmentUrl, REPORT_FILES, summaryTable, writeReports } from '../../src/reports/write.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gd-reports-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const read = (name: string) => readFileSync(join(dir, name), 'utf8');
const fnr = (name: string, over: Partial<FunctionReport> = {}): FunctionReport => ({ name, file: `dist/${name}.zip`, action: 'created', ...over });

function report(over: Partial<RunReport> = {}): RunReport {
  return {
    tool: 'gestalt-deploy',
    version: '0.1.0',
    command: 'deploy',
    status: 'success',
    mode: 'meta',
    environment: 'review/main',
    environmentUrl: 'https://gw.example.com/acme/a',
    record: 's3://acme-packages/acme/lambdas/deployments/review%2Fmain.json',
    project: 'acme/lambdas',
    ref: 'main',
    sha: '0123456789abcdef',
    startedAt: '2024-01-01T00:00:00.000Z',
    finishedAt: '2024-01-01T00:00:05.000Z',
    timingsMs: { upload: 10 },
    totals: { functions: 3, failed: 1, bytesUploaded: 2048 },
    functions: [
      fnr('a', { url: 'https://gw.example.com/acme/a', endpoint: 'created', upload: 'uploaded', bytesUploaded: 2048 }),
      fnr('b', { action: 'failed', error: 'Meta refused b' }),
      fnr('c', { action: 'unchanged', url: 'https://gw.example.com/acme/c', endpoint: 'existing', upload: 'skipped' }),
    ],
    errors: [],
    ...over,
  };
}

describe('environmentUrl', () => {
  it('takes the URL of the first function by name that has one, whatever the order', () => {
    const fns = [fnr('zeta', { url: 'https://z' }), fnr('alpha'), fnr('beta', { url: 'https://b' }), fnr('gamma', { url: 'https://g' })];
    expect(environmentUrl({ functions: fns })).toBe('https://b');
    expect(environmentUrl({ functions: [...fns].reverse() })).toBe('https://b');
    expect(environmentUrl({ functions: [fns[2]!, fns[0]!, fns[3]!, fns[1]!] })).toBe('https://b');
  });

  it('is undefined when no function has a URL, and does not reorder the input', () => {
    const fns = [fnr('b'), fnr('a', { url: '' })];
    expect(environmentUrl({ functions: fns })).toBeUndefined();
    expect(fns.map((f) => f.name)).toEqual(['b', 'a']);
    expect(environmentUrl({ functions: [] })).toBeUndefined();
  });

  it('takes the chosen function\'s URL (GESTALT_ENVIRONMENT_URL_FUNCTION, primary: true), else falls back to the first by name', () => {
    const fns = [fnr('alpha', { url: 'https://a' }), fnr('gamma', { url: 'https://g' }), fnr('beta')];
    expect(environmentUrl({ functions: fns, environmentUrlFunction: 'gamma' })).toBe('https://g');
    // The chosen one failed (no URL): the environment still gets a URL.
    expect(environmentUrl({ functions: fns, environmentUrlFunction: 'beta' })).toBe('https://a');
  });
});

describe('writeReports (deploy)', () => {
  it('writes the dotenv, JSON and annotations files', async () => {
    const r = report();
    await writeReports(dir, r);
    expect(readdirSync(dir).sort()).toEqual([REPORT_FILES.annotations, REPORT_FILES.json, REPORT_FILES.env].sort());
    expect(read('gestalt-deploy.env')).toBe([
      'GESTALT_ENVIRONMENT_URL=https://gw.example.com/acme/a',
      'GESTALT_DEPLOY_STATUS=success',
      'GESTALT_DEPLOY_MODE=meta',
      'GESTALT_FUNCTION_COUNT=2',
      'GESTALT_DEPLOYMENT_RECORD=s3://acme-packages/acme/lambdas/deployments/review%2Fmain.json',
      '',
    ].join('\n'));
    expect(read('gestalt-deploy.json')).toBe(`${JSON.stringify(r, null, 2)}\n`);
    expect(JSON.parse(read('gestalt-annotations.json'))).toEqual({
      gestalt_endpoints: [
        { external_link: { label: 'a', url: 'https://gw.example.com/acme/a' } },
        { external_link: { label: 'c', url: 'https://gw.example.com/acme/c' } },
      ],
    });
  });

  it('writes an empty URL and leaves out an absent record in the dotenv file', async () => {
    await writeReports(dir, report({ environmentUrl: undefined, record: undefined, functions: [] }));
    expect(read('gestalt-deploy.env')).toBe('GESTALT_ENVIRONMENT_URL=\nGESTALT_DEPLOY_STATUS=success\nGESTALT_DEPLOY_MODE=meta\nGESTALT_FUNCTION_COUNT=0\n');
    expect(JSON.parse(read('gestalt-annotations.json'))).toEqual({ gestalt_endpoints: [] });
  });

  it('cannot be made to inject a variable through a newline in a value', async () => {
    await writeReports(dir, report({ environmentUrl: 'https://x/\nGESTALT_DEPLOY_STATUS=hacked\r\nEVIL=1', record: 'rec\rINJECTED=1' }));
    const lines = read('gestalt-deploy.env').split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe('GESTALT_ENVIRONMENT_URL=https://x/ GESTALT_DEPLOY_STATUS=hacked EVIL=1');
    expect(lines[4]).toBe('GESTALT_DEPLOYMENT_RECORD=rec INJECTED=1');
    expect(lines.filter((l) => /^(EVIL|INJECTED)=/.test(l) || l.startsWith('GESTALT_DEPLOY_STATUS=hacked'))).toEqual([]);
    expect(read('gestalt-deploy.env')).not.toContain('\r');
  });

  it('writes the same three files for stop', async () => {
    await writeReports(dir, report({ command: 'stop' }));
    expect(readdirSync(dir).sort()).toEqual(['gestalt-annotations.json', 'gestalt-deploy.env', 'gestalt-deploy.json']);
  });

  it('keeps registered secrets and presigned signatures out of every file', async () => {
    redactor.add('report-secret-9f8e7d');
    const signed = 'https://acme-packages.s3.amazonaws.com/k.zip?X-Amz-Signature=feedface1234&X-Amz-Security-Token=tok999';
    await writeReports(dir, report({
      environmentUrl: `${signed}&u=report-secret-9f8e7d`,
      errors: ['auth failed with report-secret-9f8e7d'],
      functions: [fnr('a', { url: signed }), fnr('b', { action: 'failed', error: 'Authorization: Basic cmVwb3J0OnNlY3JldA== refused' })],
    }));
    for (const name of readdirSync(dir)) {
      const text = read(name);
      expect(text, name).not.toContain('report-secret-9f8e7d');
      expect(text, name).not.toContain('feedface1234');
      expect(text, name).not.toContain('tok999');
      expect(text, name).not.toContain('cmVwb3J0OnNlY3JldA==');
    }
    expect(JSON.parse(read('gestalt-deploy.json')).errors).toEqual(['auth failed with [REDACTED]']);
    expect(JSON.parse(read('gestalt-annotations.json')).gestalt_endpoints[0].external_link.url).toBe(
      'https://acme-packages.s3.amazonaws.com/k.zip?X-Amz-Signature=[REDACTED]&X-Amz-Security-Token=[REDACTED]',
    );
  });
});

describe('writeReports with quoted secrets', () => {
  // Regression: an error message that quotes a
  // presigned URL in double quotes — ofetch's FetchError reads `[GET] "<url>": 403 Forbidden` — makes redactDeep
  // produce invalid JSON, so writeReports throws a SyntaxError and the job ends without any report file.
  it('still writes the reports when an error quotes a presigned URL', async () => {
    await writeReports(dir, report({ errors: ['[GET] "https://b.s3.amazonaws.com/k.zip?X-Amz-Signature=abc123": 403 Forbidden'] }));
    expect(JSON.parse(read('gestalt-deploy.json')).errors).toEqual(['[GET] "https://b.s3.amazonaws.com/k.zip?X-Amz-Signature=[REDACTED]": 403 Forbidden']);
  });
});

describe('writeReports (plan)', () => {
  it('writes only gestalt-plan.json, leaving the last deploy report alone', async () => {
    await writeReports(dir, report());
    const before = read('gestalt-deploy.json');
    const plan = report({ command: 'plan', environmentUrl: undefined });
    await writeReports(dir, plan);
    expect(readdirSync(dir).sort()).toEqual(['gestalt-annotations.json', 'gestalt-deploy.env', 'gestalt-deploy.json', 'gestalt-plan.json']);
    expect(read('gestalt-plan.json')).toBe(`${JSON.stringify(plan, null, 2)}\n`);
    expect(read('gestalt-deploy.json')).toBe(before);
  });

  it('in an empty dir creates nothing else', async () => {
    await writeReports(dir, report({ command: 'plan' }));
    expect(readdirSync(dir)).toEqual(['gestalt-plan.json']);
  });
});

describe('summaryTable / formatBytes', () => {
  it('shows FAILED and the error for failed functions, the URL otherwise', () => {
    expect(summaryTable(report()).split('\n')).toEqual([
      'function  action     endpoint  package           url / error',
      '--------  ---------  --------  ----------------  -----------------------------',
      'a         created    created   uploaded 2.0 KiB  https://gw.example.com/acme/a',
      'b         FAILED                                 Meta refused b',
      'c         unchanged  existing  skipped           https://gw.example.com/acme/c',
    ]);
    expect(summaryTable(report({ command: 'stop', functions: [] })).split('\n')[0]).toBe('function  action  endpoint  package  result');
  });

  it('formats sizes in B, KiB and MiB', () => {
    expect([0, 1023, 1024, 1536, 1024 * 1024 - 1, 5 * 1024 * 1024].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '1024.0 KiB', '5.0 MiB']);
  });
});
