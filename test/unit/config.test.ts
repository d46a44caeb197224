// loadConfig/readConfig: every configuration mistake is a Problem that names the variable and says what to change,
// and all of them are reported in one run. Each case starts from a complete, valid job and changes one thing, so
// the assertion can be "exactly these problems", not merely "some problem".
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checker, splitList } from '../../src/config/checks.js';
import { loadConfig, readConfig } from '../../src/config/env.js';
import type { Command } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import type { Problem } from '../../src/errors.js';
import { redactor } from '../../src/log/redact.js';

type Env = Record<string, string | undefined>;

const dir = mkdtempSync(join(tmpdir(), 'gd-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ENV_ID = 'e7b3ca8b-5b9a-4a51-8309-3ced4718e41f';
const PROVIDER_ID = '3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c';

const JOB: Env = {
  CI_PROJECT_NAME: 'lambdas',
  CI_PROJECT_PATH: 'acme/lambdas',
  CI_PROJECT_ID: '42',
  CI_COMMIT_REF_SLUG: 'main',
  CI_COMMIT_SHA: '0123456789abcdef0123456789abcdef01234567',
  CI_ENVIRONMENT_NAME: 'review/main',
  CI_ENVIRONMENT_SLUG: 'review-main',
  CI_PIPELINE_ID: '1001',
  CI_JOB_ID: '2002',
  CI_PROJECT_DIR: dir,
  S3_BUCKET_NAME: 'acme-packages',
  AWS_REGION: 'eu-west-1',
  LAMBDA_ARTIFACTS: 'dist/*.zip',
  LAMBDA_RUNTIME: 'nodejs',
  LAMBDA_API: 'acme',
  LAMBDA_ENVIRONMENT_ID: ENV_ID,
};
const META: Env = {
  ...JOB,
  GESTALT_META_URL: 'https://meta.example.com',
  GESTALT_ORG: 'acme.engineering',
  GESTALT_LAMBDA_PROVIDER_ID: PROVIDER_ID,
  GF_API_KEY: 'key-id',
  GF_API_SECRET: 'key-secret-value',
};
const GATEWAY: Env = { ...JOB, CI_URL: 'https://gw.example.com/deploy' };

function problems(env: Env, command: Command = 'deploy'): Problem[] {
  return readConfig(command, env, dir).problems;
}
const vars = (ps: Problem[]) => ps.map((p) => p.variable);
/** Exactly one problem, for `variable`, whose message contains `text`. */
function expectOnly(ps: Problem[], variable: string, text: string | RegExp) {
  expect(vars(ps)).toEqual([variable]);
  if (typeof text === 'string') expect(ps[0]!.message).toContain(text);
  else expect(ps[0]!.message).toMatch(text);
}

describe('valid configurations', () => {
  it('a complete meta job and a complete gateway job have no problems', () => {
    expect(problems(META)).toEqual([]);
    expect(problems(GATEWAY)).toEqual([]);
    expect(() => loadConfig('deploy', META, dir)).not.toThrow();
  });

  it('applies the documented defaults', () => {
    const c = loadConfig('deploy', META, dir);
    expect(c.defaults).toEqual({ runtime: 'nodejs', handler: undefined, memory: 512, cpus: 0.1, timeout: 30, methods: ['GET', 'POST'], public: true, env: {} });
    expect(c.concurrency).toBe(8);
    expect(c.nameTemplate).toBe('{project}/{ref}/{file}');
    expect(c.storage).toEqual({ bucket: 'acme-packages', prefix: 'acme/lambdas', forcePathStyle: false, access: 'private', presignSeconds: 604800 });
    expect(c.aws.sessionName).toBe('gitlab-42-1001-2002');
    expect(c.aws.durationSeconds).toBe(3600);
    expect(c.aws.roleChain).toEqual([]);
    expect(c.aws.staticKeys).toBeUndefined();
    expect(c.http).toEqual({ timeoutMs: 30000, retry: { attempts: 4, baseMs: 400, maxMs: 8000 } });
    expect(c.debug).toBe(false);
    expect(c.artifacts).toEqual(['dist/*.zip']);
    expect(c.environmentId).toBe(ENV_ID);
    expect(c.functionsFile).toBeUndefined();
    expect(c.job.projectDir).toBe(dir);
    expect(c.target).toEqual({
      mode: 'meta',
      url: 'https://meta.example.com',
      org: 'acme.engineering',
      providerId: PROVIDER_ID,
      gatewayUrl: undefined,
      auth: { kind: 'basic', key: 'key-id', secret: 'key-secret-value' },
    });
  });

  it('picks gateway mode from CI_URL, with Basic auth only when the key pair is set', () => {
    expect(loadConfig('deploy', GATEWAY, dir).target).toEqual({ mode: 'gateway', url: 'https://gw.example.com/deploy', auth: undefined });
    const withKey = loadConfig('deploy', { ...GATEWAY, GF_API_KEY: 'k1', GF_API_SECRET: 'secret-1' }, dir);
    expect(withKey.target).toEqual({ mode: 'gateway', url: 'https://gw.example.com/deploy', auth: { kind: 'basic', key: 'k1', secret: 'secret-1' } });
  });

  it('normalises values: trims, lower-cases UUIDs, strips trailing slashes from URLs and the prefix', () => {
    const c = loadConfig('deploy', {
      ...META,
      LAMBDA_ENVIRONMENT_ID: ` ${ENV_ID.toUpperCase()} `,
      GESTALT_META_URL: 'https://meta.example.com/meta//',
      GESTALT_GATEWAY_URL: 'https://gw.example.com/',
      S3_PREFIX: '/team/app/',
      LAMBDA_ARTIFACTS: ' dist/a.zip\n  dist/b.zip\tdist/c.zip ',
      LAMBDA_METHODS: 'get, put',
    }, dir);
    expect(c.environmentId).toBe(ENV_ID);
    expect(c.target.url).toBe('https://meta.example.com/meta');
    expect(c.target.mode === 'meta' && c.target.gatewayUrl).toBe('https://gw.example.com');
    expect(c.storage.prefix).toBe('team/app');
    expect(c.artifacts).toEqual(['dist/a.zip', 'dist/b.zip', 'dist/c.zip']);
    expect(c.defaults.methods).toEqual(['GET', 'PUT']);
  });

  it('uses AWS_DEFAULT_REGION when AWS_REGION is unset, and a bearer token instead of the key pair', () => {
    const c = loadConfig('deploy', { ...META, AWS_REGION: undefined, AWS_DEFAULT_REGION: 'us-gov-west-1', GF_API_KEY: '', GF_API_SECRET: '', GESTALT_TOKEN: 'tok-abcdef' }, dir);
    expect(c.aws.region).toBe('us-gov-west-1');
    expect(c.target.mode === 'meta' && c.target.auth).toEqual({ kind: 'bearer', token: 'tok-abcdef' });
  });

  it('falls back to gitlab-local-0-0 as session name outside GitLab, and reads explicit sizing', () => {
    const c = loadConfig('deploy', { ...META, CI_PROJECT_ID: '', CI_PIPELINE_ID: undefined, CI_JOB_ID: '', LAMBDA_MEMORY: '1024', LAMBDA_CPUS: '.5', LAMBDA_TIMEOUT: '300', GESTALT_CONCURRENCY: '64' }, dir);
    expect(c.aws.sessionName).toBe('gitlab-local-0-0');
    expect([c.defaults.memory, c.defaults.cpus, c.defaults.timeout, c.concurrency]).toEqual([1024, 0.5, 300, 64]);
  });

  it('turns debug on with GESTALT_DEBUG or CI_DEBUG_TRACE=true', () => {
    expect(loadConfig('deploy', { ...META, GESTALT_DEBUG: 'yes' }, dir).debug).toBe(true);
    expect(loadConfig('deploy', { ...META, CI_DEBUG_TRACE: 'true' }, dir).debug).toBe(true);
    expect(loadConfig('deploy', { ...META, GESTALT_DEBUG: 'off' }, dir).debug).toBe(false);
  });

  it('accepts static keys, a role with a token, and a role chain', () => {
    const c = loadConfig('deploy', {
      ...META,
      AWS_ROLE_ARN: 'arn:aws:iam::111122223333:role/gestalt-deploy',
      GESTALT_ID_TOKEN: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
      AWS_ROLE_CHAIN: 'arn:aws:iam::444455556666:role/target\narn:aws-cn:iam::777788889999:role/path/x',
      AWS_ROLE_DURATION_SECONDS: '900',
    }, dir);
    expect(c.aws.roleChain).toEqual(['arn:aws:iam::444455556666:role/target', 'arn:aws-cn:iam::777788889999:role/path/x']);
    expect(c.aws.durationSeconds).toBe(900);
    const s = loadConfig('deploy', { ...META, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'static-secret-key', AWS_SESSION_TOKEN: 'sess-token' }, dir);
    expect(s.aws.staticKeys).toEqual({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'static-secret-key', sessionToken: 'sess-token' });
  });
});

describe('missing required variables for deploy', () => {
  it.each([
    ['CI_PROJECT_NAME', ['CI_PROJECT_NAME']],
    // The S3 prefix defaults to CI_PROJECT_PATH, so its absence is reported for both.
    ['CI_PROJECT_PATH', ['CI_PROJECT_PATH', 'S3_PREFIX']],
    ['CI_COMMIT_REF_SLUG', ['CI_COMMIT_REF_SLUG']],
    ['CI_COMMIT_SHA', ['CI_COMMIT_SHA']],
    ['CI_ENVIRONMENT_NAME', ['CI_ENVIRONMENT_NAME']],
    ['S3_BUCKET_NAME', ['S3_BUCKET_NAME']],
    ['AWS_REGION', ['AWS_REGION']],
    ['LAMBDA_ARTIFACTS', ['LAMBDA_ARTIFACTS']],
    ['LAMBDA_API', ['LAMBDA_API']],
    ['LAMBDA_ENVIRONMENT_ID', ['LAMBDA_ENVIRONMENT_ID']],
    ['GESTALT_ORG', ['GESTALT_ORG']],
    ['GESTALT_LAMBDA_PROVIDER_ID', ['GESTALT_LAMBDA_PROVIDER_ID']],
  ])('%s unset (or blank) is reported by name', (name, expected) => {
    expect(vars(problems({ ...META, [name]: undefined }))).toEqual(expected);
    expect(vars(problems({ ...META, [name]: '   ' }))).toEqual(expected);
    expect(problems({ ...META, [name]: undefined })[0]!.message).toMatch(/^is not set/);
  });

  it('says how to fix the predefined-variable and environment cases', () => {
    expectOnly(problems({ ...META, CI_COMMIT_SHA: '' }), 'CI_COMMIT_SHA', 'is not set; GitLab sets it in every job; outside GitLab set it by hand.');
    expectOnly(problems({ ...META, CI_ENVIRONMENT_NAME: '' }), 'CI_ENVIRONMENT_NAME', 'environment: name: review/$CI_COMMIT_REF_SLUG');
    expectOnly(problems({ ...META, LAMBDA_ARTIFACTS: '' }), 'LAMBDA_ARTIFACTS', 'e.g. "dist/*.zip"');
  });

  it('meta mode without any credentials asks for the key pair or a token', () => {
    expectOnly(problems({ ...META, GF_API_KEY: undefined, GF_API_SECRET: undefined }), 'GF_API_KEY', 'meta mode needs GF_API_KEY + GF_API_SECRET or a bearer GESTALT_TOKEN.');
  });

  it('a functions file in the project dir stands in for LAMBDA_ARTIFACTS', () => {
    const own = mkdtempSync(join(tmpdir(), 'gd-config-file-'));
    try {
      writeFileSync(join(own, 'gestalt-deploy.yml'), 'functions:\n  - artifact: a.zip\n');
      const { config, problems: ps } = readConfig('deploy', { ...META, CI_PROJECT_DIR: own, LAMBDA_ARTIFACTS: undefined }, own);
      expect(ps).toEqual([]);
      expect(config.functionsFile).toBe(join(own, 'gestalt-deploy.yml'));
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });
});

describe('invalid values', () => {
  it('not a UUID', () => {
    expectOnly(problems({ ...META, LAMBDA_ENVIRONMENT_ID: 'dev-env' }), 'LAMBDA_ENVIRONMENT_ID',
      "'dev-env' is not a UUID; set it to the Gestalt environment id (a UUID such as e7b3ca8b-5b9a-4a51-8309-3ced4718e41f).");
    expectOnly(problems({ ...META, GESTALT_LAMBDA_PROVIDER_ID: '12345' }), 'GESTALT_LAMBDA_PROVIDER_ID', "'12345' is not a UUID; set it to the Lambda provider id");
  });

  it('not a number', () => {
    expectOnly(problems({ ...META, LAMBDA_MEMORY: '512MB' }), 'LAMBDA_MEMORY', "'512MB' is not a whole number; set the function memory in MB as an integer from 32 to 65536.");
    expectOnly(problems({ ...META, LAMBDA_TIMEOUT: '1.5' }), 'LAMBDA_TIMEOUT', "'1.5' is not a whole number");
    expectOnly(problems({ ...META, LAMBDA_CPUS: 'half' }), 'LAMBDA_CPUS', "'half' is not a number; set the function CPU share such as 0.1.");
    expectOnly(problems({ ...META, GESTALT_CONCURRENCY: '-1' }), 'GESTALT_CONCURRENCY', "'-1' is not a whole number");
  });

  it('out of range', () => {
    expectOnly(problems({ ...META, LAMBDA_MEMORY: '16' }), 'LAMBDA_MEMORY', '16 is out of range; the function memory in MB must be from 32 to 65536.');
    expectOnly(problems({ ...META, LAMBDA_CPUS: '0.001' }), 'LAMBDA_CPUS', '0.001 is out of range; the function CPU share must be from 0.01 to 64.');
    expectOnly(problems({ ...META, LAMBDA_TIMEOUT: '0' }), 'LAMBDA_TIMEOUT', 'must be from 1 to 86400');
    expectOnly(problems({ ...META, GESTALT_CONCURRENCY: '65' }), 'GESTALT_CONCURRENCY', '65 is out of range; the number of parallel uploads and API calls must be from 1 to 64.');
    expectOnly(problems({ ...META, GESTALT_RETRY_ATTEMPTS: '11' }), 'GESTALT_RETRY_ATTEMPTS', 'must be from 1 to 10');
  });

  it('AWS_ROLE_DURATION_SECONDS outside 900–43200', () => {
    expectOnly(problems({ ...META, AWS_ROLE_DURATION_SECONDS: '899' }), 'AWS_ROLE_DURATION_SECONDS', '899 is out of range; the role session length in seconds must be from 900 to 43200.');
    expectOnly(problems({ ...META, AWS_ROLE_DURATION_SECONDS: '43201' }), 'AWS_ROLE_DURATION_SECONDS', '43201 is out of range');
    expect(problems({ ...META, AWS_ROLE_DURATION_SECONDS: '43200' })).toEqual([]);
  });

  it('unknown GESTALT_PACKAGE_ACCESS', () => {
    expectOnly(problems({ ...META, GESTALT_PACKAGE_ACCESS: 'public-read' }), 'GESTALT_PACKAGE_ACCESS', "'public-read' is not a known value; use one of private, public, presigned.");
    expect(loadConfig('deploy', { ...META, GESTALT_PACKAGE_ACCESS: 'presigned' }, dir).storage.access).toBe('presigned');
  });

  it('not a boolean', () => {
    expectOnly(problems({ ...META, S3_FORCE_PATH_STYLE: 'maybe' }), 'S3_FORCE_PATH_STYLE', "'maybe' is not a boolean; use true or false.");
  });

  it('both CI_URL and GESTALT_META_URL', () => {
    expectOnly(problems({ ...META, CI_URL: 'https://gw.example.com/deploy' }), 'CI_URL', 'and GESTALT_META_URL are both set; set CI_URL for gateway mode');
  });

  it('neither CI_URL nor GESTALT_META_URL', () => {
    expectOnly(problems({ ...JOB }), 'GESTALT_META_URL', 'is not set (nor CI_URL); set GESTALT_META_URL to call Gestalt Meta directly, or CI_URL for the deployment lambda (gateway mode).');
  });

  it('not an http(s) URL', () => {
    expectOnly(problems({ ...META, GESTALT_META_URL: 'ftp://meta.example.com' }), 'GESTALT_META_URL', "'ftp://meta.example.com' is not an http(s) URL");
    expectOnly(problems({ ...GATEWAY, CI_URL: 'gw.example.com/deploy' }), 'CI_URL', 'is not an http(s) URL');
    expectOnly(problems({ ...META, AWS_ENDPOINT_URL_S3: 'localhost:9000' }), 'AWS_ENDPOINT_URL_S3', 'is not an http(s) URL');
  });

  it.each(['GESTALT_META_URL', 'GESTALT_GATEWAY_URL', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_STS'])('%s with user:password@ is refused without echoing it', (name) => {
    const password = 'pa%24%24-w0rd-in-url';
    const ps = problems({ ...META, [name]: `https://deployer:${password}@host.example.com/x` });
    expectOnly(ps, name, 'contains a user name or password');
    expect(JSON.stringify(ps)).not.toContain('deployer');
    expect(JSON.stringify(ps)).not.toContain('w0rd');
    // Registered as a secret, raw and decoded, in case anything repeats the variable's value.
    expect(redactor.redact(`x ${password} ${decodeURIComponent(password)} y`)).toBe('x [REDACTED] [REDACTED] y');
  });

  it('CI_URL with a user name only, or with an @ in the password, is refused too', () => {
    expectOnly(problems({ ...GATEWAY, CI_URL: 'https://deployer@gw.example.com/deploy' }), 'CI_URL', 'contains a user name or password');
    const ps = problems({ ...GATEWAY, CI_URL: 'https://u:p@ss-word@gw.example.com/deploy' });
    expectOnly(ps, 'CI_URL', 'contains a user name or password');
    expect(ps[0]!.message).not.toContain('ss-word');
  });

  it('an @ in a value that is no URL is not echoed up to it', () => {
    expectOnly(problems({ ...GATEWAY, CI_URL: 'user:secret-pw@gw.example.com' }), 'CI_URL', "'[REDACTED]@gw.example.com' is not an http(s) URL");
  });

  it('plain http:// to Gestalt is accepted with a warning naming the credentials; https:// and AWS endpoints are not warned about', () => {
    const warnings = (env: Env) => readConfig('deploy', env, dir).config.warnings;
    expect(warnings({ ...META, GESTALT_META_URL: 'http://meta.internal:14374' })).toEqual([expect.stringMatching(/^GESTALT_META_URL uses plain http:\/\/, so GF_API_KEY\/GF_API_SECRET and every request travel unencrypted/)]);
    expect(warnings({ ...GATEWAY, CI_URL: 'http://gw.internal/deploy', GF_API_KEY: 'k', GF_API_SECRET: 's3cret-value' })).toEqual([expect.stringMatching(/^CI_URL uses plain http:\/\//)]);
    expect(warnings({ ...GATEWAY, CI_URL: 'http://gw.internal/deploy' })).toEqual([]);
    expect(warnings({ ...META, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000' })).toEqual([]);
    expect(warnings(META)).toEqual([]);
  });

  it('GF_API_KEY without GF_API_SECRET, and the reverse (either mode)', () => {
    expectOnly(problems({ ...GATEWAY, GF_API_KEY: 'k1' }), 'GF_API_SECRET', 'is not set but GF_API_KEY is; add the API key secret as a masked CI/CD variable.');
    expectOnly(problems({ ...GATEWAY, GF_API_SECRET: 'secret-1' }), 'GF_API_KEY', 'is not set but GF_API_SECRET is');
    // In meta mode a half key pair also means no credentials at all: both are said.
    expect(vars(problems({ ...META, GF_API_SECRET: undefined }))).toEqual(['GF_API_SECRET', 'GF_API_KEY']);
  });

  it("a secret containing ':' is refused in meta mode only", () => {
    expectOnly(problems({ ...META, GF_API_SECRET: 'abc:def' }), 'GF_API_SECRET', "contains ':', which Basic auth cannot carry; create a new API key pair or use GESTALT_TOKEN.");
    expect(problems({ ...GATEWAY, GF_API_KEY: 'k1', GF_API_SECRET: 'abc:def' })).toEqual([]);
  });

  it('GESTALT_TOKEN in gateway mode, or together with the key pair in meta mode', () => {
    expectOnly(problems({ ...GATEWAY, GESTALT_TOKEN: 'tok-abcdef' }), 'GESTALT_TOKEN', 'is only used in meta mode');
    expectOnly(problems({ ...META, GESTALT_TOKEN: 'tok-abcdef' }), 'GESTALT_TOKEN', 'keep one way to authenticate to Meta.');
  });

  it('bad FQON', () => {
    expectOnly(problems({ ...META, GESTALT_ORG: 'acme/engineering' }), 'GESTALT_ORG', "'acme/engineering' is not an FQON; use the dot-separated org path, e.g. acme.engineering.");
    expectOnly(problems({ ...META, GESTALT_ORG: 'acme..eng' }), 'GESTALT_ORG', 'is not an FQON');
  });

  it('bad role ARN', () => {
    const token = { GESTALT_ID_TOKEN: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln' };
    expectOnly(problems({ ...META, ...token, AWS_ROLE_ARN: 'arn:aws:iam::1234:role/x' }), 'AWS_ROLE_ARN', "'arn:aws:iam::1234:role/x' is not an IAM role ARN; use arn:aws:iam::<12-digit account>:role/<name>.");
    expectOnly(problems({ ...META, ...token, AWS_ROLE_ARN: 'arn:aws:iam::111122223333:user/deployer' }), 'AWS_ROLE_ARN', 'is not an IAM role ARN');
    expectOnly(problems({ ...META, ...token, AWS_ROLE_ARN: 'arn:aws:iam::111122223333:role/a', AWS_ROLE_CHAIN: 'arn:aws:iam::111122223333:role/b not-an-arn' }), 'AWS_ROLE_CHAIN', "'not-an-arn' is not an IAM role ARN");
  });

  it('AWS_ROLE_ARN with an empty GESTALT_ID_TOKEN points at id_tokens', () => {
    const ps = problems({ ...META, AWS_ROLE_ARN: 'arn:aws:iam::111122223333:role/gestalt-deploy', GESTALT_ID_TOKEN: '' });
    expectOnly(ps, 'GESTALT_ID_TOKEN', 'is empty but AWS_ROLE_ARN is set');
    expect(ps[0]!.message).toContain('`id_tokens: { GESTALT_ID_TOKEN: { aud: <your audience> } }`');
  });

  it('a role chain with no starting credentials', () => {
    expectOnly(problems({ ...META, AWS_ROLE_CHAIN: 'arn:aws:iam::111122223333:role/b' }), 'AWS_ROLE_CHAIN', 'needs starting credentials');
  });

  it('half a static key pair', () => {
    expectOnly(problems({ ...META, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' }), 'AWS_SECRET_ACCESS_KEY', 'is not set but AWS_ACCESS_KEY_ID is');
    expectOnly(problems({ ...META, AWS_SECRET_ACCESS_KEY: 'static-secret-key' }), 'AWS_ACCESS_KEY_ID', 'is not set but AWS_SECRET_ACCESS_KEY is');
  });

  it('bad session name', () => {
    expectOnly(problems({ ...META, AWS_ROLE_SESSION_NAME: 'my session' }), 'AWS_ROLE_SESSION_NAME', "'my session' is not a valid session name; use 2–64 characters from letters, digits and +=,.@_-.");
    expectOnly(problems({ ...META, AWS_ROLE_SESSION_NAME: 'x'.repeat(65) }), 'AWS_ROLE_SESSION_NAME', 'is not a valid session name');
    expect(problems({ ...META, AWS_ROLE_SESSION_NAME: 'a+b=c,d.e@f_g-h' })).toEqual([]);
  });

  it('unknown name-template placeholder', () => {
    expectOnly(problems({ ...META, GESTALT_NAME_TEMPLATE: '{project}/{branch}/{file}' }), 'GESTALT_NAME_TEMPLATE',
      'unknown placeholder {branch}; use {project}, {project_path}, {ref}, {file}, {basename}, {env}.');
    expect(vars(problems({ ...META, GESTALT_NAME_TEMPLATE: '{a}-{b}' }))).toEqual(['GESTALT_NAME_TEMPLATE', 'GESTALT_NAME_TEMPLATE']);
    expect(problems({ ...META, GESTALT_NAME_TEMPLATE: '{env}-{basename}' })).toEqual([]);
  });

  it.each(['LAMBDA_HANDLER', 'LAMBDA_MEMORY', 'LAMBDA_CPUS', 'LAMBDA_TIMEOUT', 'LAMBDA_METHODS'])('%s has no effect in gateway mode', (name) => {
    const value = { LAMBDA_HANDLER: 'index.handler', LAMBDA_MEMORY: '256', LAMBDA_CPUS: '0.5', LAMBDA_TIMEOUT: '60', LAMBDA_METHODS: 'GET' }[name];
    expectOnly(problems({ ...GATEWAY, [name]: value }), name, 'has no effect in gateway mode (the deployment lambda sets it); remove it or use meta mode (GESTALT_META_URL).');
    expect(problems({ ...META, [name]: value })).toEqual([]);
  });

  it('a custom name template has no effect in gateway mode', () => {
    expectOnly(problems({ ...GATEWAY, GESTALT_NAME_TEMPLATE: '{basename}' }), 'GESTALT_NAME_TEMPLATE', 'has no effect in gateway mode');
  });

  it('bad HTTP method', () => {
    expectOnly(problems({ ...META, LAMBDA_METHODS: 'GET FETCH' }), 'LAMBDA_METHODS', "'FETCH' is not an HTTP method; use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS.");
  });

  it("LAMBDA_ARTIFACTS patterns with '..' or absolute paths", () => {
    expectOnly(problems({ ...META, LAMBDA_ARTIFACTS: 'dist/*.zip ../other/x.zip' }), 'LAMBDA_ARTIFACTS', `pattern '../other/x.zip' reaches outside the project dir; use a path relative to ${dir} without '..'.`);
    expectOnly(problems({ ...META, LAMBDA_ARTIFACTS: 'dist/../../x.zip' }), 'LAMBDA_ARTIFACTS', "pattern 'dist/../../x.zip' reaches outside");
    expectOnly(problems({ ...META, LAMBDA_ARTIFACTS: '/etc/passwd' }), 'LAMBDA_ARTIFACTS', "pattern '/etc/passwd' reaches outside");
    // A name that merely starts with dots is not a parent reference.
    expect(problems({ ...META, LAMBDA_ARTIFACTS: 'dist/..hidden.zip' })).toEqual([]);
  });

  it('bad bucket name', () => {
    expectOnly(problems({ ...META, S3_BUCKET_NAME: 'Acme_Packages' }), 'S3_BUCKET_NAME', "'Acme_Packages' is not a valid bucket name; use 3–63 lowercase letters, digits, dots and hyphens.");
    expectOnly(problems({ ...META, S3_BUCKET_NAME: 'ab' }), 'S3_BUCKET_NAME', 'is not a valid bucket name');
    expectOnly(problems({ ...META, S3_BUCKET_NAME: 'bucket-' }), 'S3_BUCKET_NAME', 'is not a valid bucket name');
    expect(problems({ ...META, S3_BUCKET_NAME: 'my.dotted.bucket' })).toEqual([]);
  });

  it('bad region', () => {
    expectOnly(problems({ ...META, AWS_REGION: 'us_east_1' }), 'AWS_REGION', "'us_east_1' is not an AWS region name; use e.g. us-east-1.");
    expectOnly(problems({ ...META, AWS_REGION: 'Frankfurt' }), 'AWS_REGION', 'is not an AWS region name');
  });

  it('GESTALT_CONFIG naming a missing file', () => {
    expectOnly(problems({ ...META, GESTALT_CONFIG: 'nope.yml' }), 'GESTALT_CONFIG', `'nope.yml' does not exist in ${dir}; fix the path or unset GESTALT_CONFIG.`);
  });

  it('CI_PROJECT_DIR that does not exist', () => {
    expectOnly(problems({ ...META, CI_PROJECT_DIR: join(dir, 'missing') }), 'CI_PROJECT_DIR', `'${join(dir, 'missing')}' does not exist`);
  });
});

describe('all problems at once', () => {
  it('a job with 5 mistakes hears about all 5, in one ConfigError', () => {
    const env = {
      ...META,
      LAMBDA_ENVIRONMENT_ID: 'not-a-uuid',
      LAMBDA_MEMORY: 'lots',
      GESTALT_PACKAGE_ACCESS: 'world',
      S3_BUCKET_NAME: 'Bad_Bucket',
      AWS_REGION: 'moon',
    };
    const ps = problems(env);
    expect(vars(ps).sort()).toEqual(['AWS_REGION', 'GESTALT_PACKAGE_ACCESS', 'LAMBDA_ENVIRONMENT_ID', 'LAMBDA_MEMORY', 'S3_BUCKET_NAME']);

    let thrown: unknown;
    try {
      loadConfig('deploy', env, dir);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const err = thrown as ConfigError;
    expect(err.problems).toEqual(ps);
    expect(err.message.split('\n')).toEqual(ps.map((p) => `${p.variable}: ${p.message}`));
  });

  it('an empty environment lists every missing deploy variable', () => {
    expect(vars(problems({})).sort()).toEqual([
      'AWS_REGION', 'CI_COMMIT_REF_SLUG', 'CI_COMMIT_SHA', 'CI_ENVIRONMENT_NAME', 'CI_PROJECT_NAME', 'CI_PROJECT_PATH',
      'GESTALT_META_URL', 'LAMBDA_API', 'LAMBDA_ARTIFACTS', 'LAMBDA_ENVIRONMENT_ID', 'S3_BUCKET_NAME', 'S3_PREFIX',
    ]);
  });
});

describe('stop, plan and doctor', () => {
  it('stop needs no LAMBDA_* nor commit variables (it works from the deployment record, without a checkout)', () => {
    const env: Env = {
      CI_PROJECT_PATH: 'acme/lambdas',
      CI_ENVIRONMENT_NAME: 'review/main',
      CI_PROJECT_DIR: join(dir, 'no-checkout'),
      CI_URL: 'https://gw.example.com/deploy',
      S3_BUCKET_NAME: 'acme-packages',
      AWS_REGION: 'eu-west-1',
    };
    const c = loadConfig('stop', env, dir);
    expect(c.command).toBe('stop');
    expect(c.artifacts).toEqual([]);
    expect(c.storage.prefix).toBe('acme/lambdas');
    // Meta mode stop: no provider id needed either.
    expect(problems({ ...env, CI_URL: undefined, GESTALT_META_URL: 'https://meta.example.com', GESTALT_ORG: 'root', GESTALT_TOKEN: 'tok-abcdef' }, 'stop')).toEqual([]);
  });

  it('stop still needs the environment, to find its record', () => {
    expectOnly(problems({ ...GATEWAY, CI_ENVIRONMENT_NAME: '' }, 'stop'), 'CI_ENVIRONMENT_NAME', 'so stop knows which deployment record to use.');
  });

  it('plan needs what deploy needs', () => {
    expect(vars(problems({ ...META, LAMBDA_API: undefined, GESTALT_LAMBDA_PROVIDER_ID: undefined }, 'plan'))).toEqual(['GESTALT_LAMBDA_PROVIDER_ID', 'LAMBDA_API']);
  });

  it('doctor is lenient: readConfig returns a usable config and only storage/region problems for an empty env', () => {
    const { config, problems: ps } = readConfig('doctor', {}, dir);
    expect(vars(ps)).toEqual(['AWS_REGION', 'S3_BUCKET_NAME', 'S3_PREFIX']);
    expect(config.command).toBe('doctor');
    expect(config.target).toEqual({ mode: 'gateway', url: '' });
    expect(config.defaults.memory).toBe(512);
    expect(config.job.environment).toBe('');
  });
});

describe('secrets are registered with the redactor as they are read', () => {
  it('masks GF_API_SECRET, its Basic-auth encoding, the ID token and AWS secrets', () => {
    readConfig('deploy', {
      ...META,
      GF_API_KEY: 'reg-key',
      GF_API_SECRET: 'reg-secret-1',
      GESTALT_ID_TOKEN: 'idtok-plain-value',
      AWS_SECRET_ACCESS_KEY: 'aws-secret-key-1',
      AWS_SESSION_TOKEN: 'aws-session-tok-1',
    }, dir);
    const basic = Buffer.from('reg-key:reg-secret-1').toString('base64');
    expect(redactor.redact(`a reg-secret-1 b ${basic} c idtok-plain-value d aws-secret-key-1 e aws-session-tok-1`)).toBe(
      'a [REDACTED] b [REDACTED] c [REDACTED] d [REDACTED] e [REDACTED]',
    );
    // The key id is not a secret.
    expect(redactor.redact('reg-key')).toBe('reg-key');
  });

  // Regression: secrets are registered from the raw env value, but the config
  // (and so every request and message) uses the trimmed value. A secret with surrounding whitespace — a trailing
  // newline from a pasted variable — is then never masked in its used form.
  it('masks the trimmed form of a secret that was set with surrounding whitespace', () => {
    const c = loadConfig('deploy', { ...META, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: ' padded-aws-secret\n' }, dir);
    expect(c.aws.staticKeys?.secretAccessKey).toBe('padded-aws-secret');
    expect(redactor.redact('key padded-aws-secret')).toBe('key [REDACTED]');
  });
});

describe('Checker and splitList', () => {
  it('treats blank values as unset and trims the rest', () => {
    const c = new Checker({ A: '  ', B: ' x ' });
    expect(c.get('A')).toBeUndefined();
    expect(c.get('B')).toBe('x');
    expect(c.get('C')).toBeUndefined();
  });

  it('accepts the boolean spellings and rejects others', () => {
    const c = new Checker({ T1: 'TRUE', T2: '1', T3: 'yes', T4: 'On', F1: 'false', F2: '0', F3: 'no', F4: 'OFF', X: 'y' });
    expect(['T1', 'T2', 'T3', 'T4'].map((n) => c.bool(n, false))).toEqual([true, true, true, true]);
    expect(['F1', 'F2', 'F3', 'F4'].map((n) => c.bool(n, true))).toEqual([false, false, false, false]);
    expect(c.bool('X', true)).toBe(true);
    expect(c.problems).toEqual([{ variable: 'X', message: "'y' is not a boolean; use true or false." }]);
  });

  it('returns the fallback for an unparsable number, but the value for an out-of-range one', () => {
    const c = new Checker({ N: 'abc', M: '5' });
    expect(c.int('N', 7, 1, 3, 'n')).toBe(7);
    expect(c.int('M', 7, 1, 3, 'm')).toBe(5);
    expect(vars(c.problems)).toEqual(['N', 'M']);
  });

  it('splits on any whitespace, dropping empties', () => {
    expect(splitList(' a  b\nc\t\n d ')).toEqual(['a', 'b', 'c', 'd']);
    expect(splitList(undefined)).toEqual([]);
    expect(splitList('   ')).toEqual([]);
  });
});
