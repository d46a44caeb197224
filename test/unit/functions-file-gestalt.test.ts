// gestalt-deploy.yml keys that become Gestalt lambda and endpoint properties: what valid entries turn into, and
// that each mistake Meta would reject later is a file:line problem now.
import { describe, expect, it } from 'vitest';
import { parseFunctionsFile } from '../../src/config/functions-file.js';

const F = 'gestalt-deploy.yml';
const parse = (text: string, mode: 'meta' | 'gateway' = 'meta') => parseFunctionsFile(text, F, {}, { mode });
const lines = (...l: string[]) => `${l.join('\n')}\n`;
const fn = (...settings: string[]) => lines('functions:', '  - artifact: dist/a.zip', ...settings);
const problemsOf = (text: string) => parse(text).problems.map((p) => `${p.variable}: ${p.message}`);

describe('gestalt settings: valid entries', () => {
  it('reads secrets, schedule, headers, pre_warm, isolate and endpoint into the overrides', () => {
    const { sources, problems } = parse(
      fn(
        '    secrets:',
        '      - name: db-credentials',
        '        key: password',
        '        env: DB_PASSWORD',
        '      - id: 5A1F0F3E-0000-4000-8000-000000000001',
        '        key: cert.pem',
        '        file: /etc/tls/cert.pem',
        '      - name: config',
        '        directory: /etc/config',
        '    schedule:',
        '      interval: R/2024-01-01T02:00:00Z/PT1H',
        '      timezone: Europe/Berlin',
        '      event: nightly',
        '      data: {report: sales, top: [1, 2]}',
        '    headers:',
        '      Content-Type: application/json',
        '      X-Count: 3',
        '    pre_warm: 2',
        '    isolate: false',
        '    endpoint:',
        '      methods: [get, post]',
        '      synchronous: true',
        '      is_http_aware: true',
        '      hosts: [API.example.com]',
        '      rate_limit_per_minute: 60',
        '      gestalt_security: true',
      ),
    );
    expect(problems).toEqual([]);
    expect(sources[0]?.overrides).toEqual({
      secrets: [
        { source: `${F}:4`, name: 'db-credentials', mount: 'env', path: 'DB_PASSWORD', key: 'password' },
        { source: `${F}:7`, id: '5a1f0f3e-0000-4000-8000-000000000001', mount: 'file', path: '/etc/tls/cert.pem', key: 'cert.pem' },
        { source: `${F}:10`, name: 'config', mount: 'directory', path: '/etc/config' },
      ],
      schedule: { interval: 'R/2024-01-01T02:00:00Z/PT1H', timezone: 'Europe/Berlin', event: 'nightly', data: { report: 'sales', top: [1, 2] } },
      headers: { 'Content-Type': 'application/json', 'X-Count': '3' },
      preWarm: 2,
      isolate: false,
      methods: ['GET', 'POST'],
      endpoint: { synchronous: true, isHttpAware: true, hosts: ['api.example.com'], rateLimitPerMinute: 60, gestaltSecurity: true },
    });
  });

  it('gives a schedule the event name "schedule" and empty data unless set; accepts Gestalt\'s own interval forms', () => {
    for (const interval of ['R/2024-01-01T00:00:00Z/P1D', 'R-1/2017-02-07T02:0:00Z/PT1D', 'R5/2024-06-01T12:30:00+02:00/PT15M', 'R/2024-01-01T00:00Z/P1W']) {
      const { sources, problems } = parse(fn('    schedule:', `      interval: "${interval}"`, '      timezone: UTC'));
      expect(problems, interval).toEqual([]);
      expect(sources[0]?.overrides.schedule).toEqual({ interval, timezone: 'UTC', event: 'schedule', data: {} });
    }
  });

  it('merges endpoint options of defaults: with the function\'s, key by key', () => {
    const { sources, problems } = parse(
      lines('defaults:', '  endpoint:', '    rate_limit_per_minute: 30', '    gestalt_security: true', 'functions:', '  - artifact: dist/a.zip', '    endpoint:', '      gestalt_security: false'),
    );
    expect(problems).toEqual([]);
    expect(sources[0]?.overrides.endpoint).toEqual({ rateLimitPerMinute: 30, gestaltSecurity: false });
  });
});

describe('gestalt settings: every mistake at its line', () => {
  it('secrets: how the secret is named and mounted', () => {
    expect(
      problemsOf(
        fn(
          '    env:',
          '      TOKEN: x',
          '    secrets:',
          '      - name: db', //           6: neither env/file/directory
          '        key: password',
          '      - name: a', //            8: two mounts
          '        id: 5a1f0f3e-0000-4000-8000-000000000001',
          '        env: A',
          '        file: /a',
          '      - name: Bad_Name', //     12
          '        key: k',
          '        env: B',
          '      - name: c', //            15: relative file path
          '        key: k',
          '        file: etc/c',
          '      - name: d', //            18: directory with a key
          '        key: k',
          '        directory: /etc/d',
          '      - name: e', //            21: env without key
          '        env: E',
          '      - name: f', //            23: clashes with env:
          '        key: k',
          '        env: TOKEN',
          '      - id: not-a-uuid', //     26
          '        directory: /etc/g',
          '      - name: h', //            28
          '        key: k',
          '        env: H',
          '      - name: i', //            31: same variable as line 28
          '        key: k',
          '        env: H',
          '      - name: j',
          '        key: k',
          '        file: /j',
          '        mode: 0400', //          37
        ),
      ),
    ).toEqual([
      `${F}:6: secrets: mount the secret with exactly one of env: (a variable name), file: (a path) or directory: (a path).`,
      `${F}:8: secrets: name the secret with exactly one of name: (its name in the environment) or id: (its UUID).`,
      `${F}:8: secrets: mount the secret with exactly one of env: (a variable name), file: (a path) or directory: (a path), not env and file.`,
      `${F}:12: secrets: name 'Bad_Name' is not a Gestalt secret name (lowercase letters, digits, '-' and '.').`,
      `${F}:17: secrets: file must be an absolute path such as /etc/secrets/password.`,
      `${F}:19: secrets: a directory mount takes every item of the secret; remove key: (or mount one item with file:).`,
      `${F}:21: secrets: an env mount needs key: (which item of the secret to mount).`,
      `${F}:23: secrets: TOKEN is also set under env:; keep one of them.`,
      `${F}:26: secrets: id 'not-a-uuid' is not a UUID; copy the secret's id from Gestalt, or use name:.`,
      `${F}:31: secrets: variable H is already mounted by the entry at ${F}:28; mount each variable once.`,
      `${F}:37: unknown secret key 'mode'; use name, id, key, env, file, directory.`,
    ]);
    expect(problemsOf(fn('    secrets: db'))).toEqual([`${F}:3: secrets: must be a list; each entry names a secret (name: or id:) and one of env:, file: or directory:.`]);
  });

  it('schedule: missing parts, malformed interval and time zone, unknown keys', () => {
    expect(problemsOf(fn('    schedule:', '      timezone: UTC', '      every: 1h'))).toEqual([
      `${F}:5: unknown schedule key 'every'; use interval, timezone, event, data.`,
      `${F}:4: schedule: interval: is missing; a schedule needs interval: (e.g. R/2024-01-01T02:00:00Z/PT1H) and timezone: (e.g. UTC).`,
    ]);
    expect(problemsOf(fn('    schedule:', '      interval: "0 2 * * *"', '      timezone: Berlin/Mitte', '      event: ""'))).toEqual([
      `${F}:4: schedule: interval '0 2 * * *' is not an ISO-8601 repeating interval; write R/<start>/<period>, e.g. R/2024-01-01T02:00:00Z/PT1H (hourly) or R/2024-01-01T00:00:00Z/P1D (daily).`,
      `${F}:5: schedule: timezone 'Berlin/Mitte' is not a time zone; use an IANA name such as UTC or Europe/Berlin.`,
      `${F}:6: schedule: event must be a non-empty string (the eventName the lambda receives).`,
    ]);
    expect(problemsOf(fn('    schedule:', '      interval: R/2024-13-45T02:00:00Z/PT1H', '      timezone: UTC'))[0]).toMatch(/:4: schedule: interval 'R\/2024-13-45/);
    expect(problemsOf(fn('    schedule:', '      interval: R/2024-01-01T02:00:00Z/P', '      timezone: UTC'))[0]).toMatch(/:4: schedule: interval/);
    expect(problemsOf(fn('    schedule: hourly'))).toEqual([`${F}:3: schedule: must be a mapping with interval: (ISO-8601, e.g. R/2024-01-01T02:00:00Z/PT1H) and timezone: (e.g. UTC).`]);
  });

  it('headers, pre_warm, isolate: wrong types', () => {
    expect(problemsOf(fn('    headers:', '      "Bad Header": x', '      Accept: [a]', '    pre_warm: 1.5', '    isolate: yes please'))).toEqual([
      `${F}:4: headers: 'Bad Header' is not a valid HTTP header name.`,
      `${F}:5: headers: Accept must be a string value.`,
      `${F}:6: pre_warm: must be a whole number of executors kept warm, from 0 to 100.`,
      `${F}:7: isolate: must be true or false.`,
    ]);
  });

  it('endpoint: wrong types, unknown keys, methods twice, an HTTP-aware asynchronous endpoint', () => {
    expect(problemsOf(fn('    endpoint:', '      methods: [GET, FETCH]', '      hosts: []', '      rate_limit_per_minute: 0', '      secure: true'))).toEqual([
      `${F}:7: unknown endpoint key 'secure'; use methods, synchronous, is_http_aware, hosts, rate_limit_per_minute, gestalt_security.`,
      `${F}:4: endpoint: methods: must be a list of HTTP methods from GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS.`,
      `${F}:5: endpoint: hosts must be a non-empty list of host names, e.g. [api.example.com].`,
      `${F}:6: endpoint: rate_limit_per_minute must be a positive whole number of requests per minute (leave it out for no limit).`,
    ]);
    expect(problemsOf(fn('    methods: [GET]', '    endpoint:', '      methods: [POST]'))).toEqual([`${F}:3: methods: is also set under endpoint:; keep one of them.`]);
    expect(problemsOf(fn('    endpoint:', '      synchronous: false', '      is_http_aware: true'))).toEqual([
      `${F}:4: endpoint: is_http_aware: true needs a synchronous endpoint; remove synchronous: false or is_http_aware.`,
    ]);
    expect(problemsOf(fn('    endpoint: [GET]'))).toEqual([`${F}:3: endpoint: must be a mapping of methods, synchronous, is_http_aware, hosts, rate_limit_per_minute, gestalt_security.`]);
  });

  it('gateway mode: each meta-only key is a problem, since the deployment lambda would ignore it', () => {
    const { problems } = parse(fn('    pre_warm: 1', '    endpoint:', '      gestalt_security: true', '    memory: 256'), 'gateway');
    expect(problems.map((p) => `${p.variable}: ${p.message}`)).toEqual([
      `${F}:3: pre_warm: has no effect in gateway mode (the deployment lambda builds the lambda and endpoint itself); remove it or use meta mode (GESTALT_META_URL).`,
      `${F}:4: endpoint: has no effect in gateway mode (the deployment lambda builds the lambda and endpoint itself); remove it or use meta mode (GESTALT_META_URL).`,
    ]);
  });
});
