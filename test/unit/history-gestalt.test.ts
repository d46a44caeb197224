// A rollback or promote must restore a function's Gestalt settings (secrets, schedule, endpoint options), not strip
// them: the history keeps them, and reads them back as untrusted input.
import { describe, expect, it } from 'vitest';
import type { PackagedFunction } from '../../src/artifacts/functions.js';
import { historyFunction, packagedFromHistory } from '../../src/history/entry.js';
import { parseHistory } from '../../src/history/schema.js';

const SHA = 'a'.repeat(64);
const fn: PackagedFunction = {
  name: 'lambdas/main/a.zip',
  file: 'a.zip',
  relPath: 'dist/a.zip',
  absPath: '/p/dist/a.zip',
  runtime: 'nodejs',
  handler: 'a.js;handler',
  memory: 256,
  cpus: 0.2,
  timeout: 30,
  methods: ['GET'],
  public: true,
  env: { A: '1' },
  source: 'gestalt-deploy.yml:3',
  sha256: SHA,
  size: 10,
  partSize: 8 << 20,
  partSha256: [SHA],
  secrets: [{ source: 'gestalt-deploy.yml:5', name: 'db', mount: 'env', path: 'DB_PASSWORD', key: 'password' }],
  schedule: { interval: 'R/2026-01-01T00:00:00Z/PT1H', timezone: 'UTC', event: 'schedule', data: { x: 1 } },
  headers: { Accept: 'application/json' },
  preWarm: 2,
  isolate: true,
  endpoint: { synchronous: true, rateLimitPerMinute: 60, gestaltSecurity: true, hosts: ['api.example.test'] },
};

const text = (functions: unknown[]) => JSON.stringify({ schema: 1, environment: 'review/x', project: 'acme/lambdas', entries: [{ number: 1, command: 'deploy', at: '', sha: 'abc', ref: 'main', pipelineId: '1', jobUrl: '', functions }] });

describe('history keeps Gestalt settings', () => {
  it('a deployed function comes back from the history with the same secrets, schedule, headers and endpoint options', () => {
    const stored = JSON.parse(JSON.stringify(historyFunction(fn, `acme/lambdas/packages/${SHA}/a.zip`)));
    const [entry] = parseHistory(text([stored]), { environment: 'review/x', projectPath: 'acme/lambdas' }).entries;
    const back = packagedFromHistory(entry!.functions[0]!, 'history #1');
    for (const k of ['secrets', 'schedule', 'headers', 'preWarm', 'isolate', 'endpoint'] as const) expect(back[k], k).toEqual(fn[k]);
  });

  it('a function without them stores no gestalt block', () => {
    const plain = { ...fn, secrets: undefined, schedule: undefined, headers: undefined, preWarm: undefined, isolate: undefined, endpoint: undefined };
    expect(historyFunction(plain, `acme/lambdas/packages/${SHA}/a.zip`)).not.toHaveProperty('gestalt');
  });

  it.each([
    ['secrets that are not a list', { secrets: 'db' }, /gestalt\.secrets/],
    ['a secret mounted in an unknown way', { secrets: [{ source: 'x', name: 'db', mount: 'socket', path: '/x' }] }, /gestalt\.secrets/],
    ['a schedule without its time zone', { schedule: { interval: 'R/PT1H', event: 'schedule' } }, /gestalt\.schedule/],
    ['a rate limit that is not a whole number', { endpoint: { rateLimitPerMinute: 'lots' } }, /gestalt\.endpoint\.rateLimitPerMinute/],
  ])('a tampered entry with %s is refused', (_what, gestalt, reason) => {
    const stored = { ...JSON.parse(JSON.stringify(historyFunction(fn, `acme/lambdas/packages/${SHA}/a.zip`))), gestalt };
    expect(() => parseHistory(text([stored]), { environment: 'review/x', projectPath: 'acme/lambdas' })).toThrow(reason);
  });
});
