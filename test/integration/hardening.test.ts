// Inputs that used to leak or mislead: credentials inside URLs, services that echo secrets into the part of an
// answer that gets quoted, symlink loops and links out of the project, and file or function names carrying
// control characters. Every output of every run here — stdout, stderr and each file the run wrote — is scanned
// for every secret used, whole, URL-encoded, and as any 8-character piece.
import { createServer } from 'node:http';
import { mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { serveLoopback } from '../support/loopback.js';
import { startMetaEmulator, type MetaEmulator } from '../support/meta-emulator.js';
import { assertNoSecrets, makeProject, runCli, type CliResult } from '../support/run-cli.js';
import { AWS_SECRET, GF_SECRET, LAMBDA_VARS, freshBucket, projectWithPackages, s3Env, startS3Stack, type S3Stack } from './setup.js';

const PASSWORD = 'Url-Pa55:w0rd/with@odd+chars';
const BEARER = 'bearer-token-0f1e2d3c4b5a69788796';
const BASIC = Buffer.from(`gf-key:${GF_SECRET}`).toString('base64');
const SECRETS = [AWS_SECRET, GF_SECRET, BASIC, BEARER, PASSWORD];

let stack: S3Stack;
let gw: GatewayFake;
let meta: MetaEmulator;
let envId: string;
let providerId: string;
const scanned: string[] = [];

beforeAll(async () => {
  stack = await startS3Stack();
  gw = await startGatewayFake();
  meta = await startMetaEmulator({ apiKeys: { 'gf-key': GF_SECRET }, bearerTokens: [BEARER], gatewayUrl: 'https://gw.example.test' });
  envId = meta.seedEnvironment({ name: 'dev' });
  meta.seedApi(envId, { name: 'dev1' });
  providerId = meta.seedLambdaProvider();
});
afterAll(async () => {
  await meta.close();
  await gw.close();
  await stack.close();
  // The whole file's outputs, once more: nothing of any secret, in any form, anywhere.
  assertNoSecrets(scanned, SECRETS);
});

/** Every file under `dir` (the project dir is the run's cwd, where reports are written). */
async function writtenFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(await readFile(join(entry.parentPath, entry.name), 'utf8'));
  }
  return out;
}

async function run(args: string[], env: Record<string, string | undefined>, cwd: string): Promise<CliResult> {
  const r = await runCli(args, { env, cwd, timeoutMs: 60_000 });
  const outputs = [r.stdout, r.stderr, ...(await writtenFiles(cwd))];
  assertNoSecrets(outputs, SECRETS);
  scanned.push(...outputs);
  return r;
}

function gatewayEnv(dir: string, bucket: string, extra: Record<string, string | undefined> = {}) {
  return s3Env(stack, bucket, { CI_PROJECT_DIR: dir, CI_URL: gw.url, ...LAMBDA_VARS, GF_API_KEY: 'gf-key', GF_API_SECRET: GF_SECRET, ...extra });
}

function metaEnv(dir: string, bucket: string, extra: Record<string, string | undefined> = {}) {
  return s3Env(stack, bucket, {
    CI_PROJECT_DIR: dir,
    GESTALT_META_URL: meta.url,
    GESTALT_ORG: 'root',
    GESTALT_LAMBDA_PROVIDER_ID: providerId,
    GESTALT_TOKEN: BEARER,
    ...LAMBDA_VARS,
    LAMBDA_HANDLER: 'index.handler',
    LAMBDA_ENVIRONMENT_ID: envId,
    ...extra,
  });
}

/** A service that answers every request with `status` and `body`. */
async function answering(status: number, contentType: string, body: string, headStatus = status) {
  return serveLoopback(
    createServer((req, res) => {
      req.resume();
      res.writeHead(req.method === 'HEAD' ? headStatus : status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }),
  );
}

describe('a URL with credentials in it', () => {
  const withUserinfo = (url: string) => url.replace('://', `://deployer:${encodeURIComponent(PASSWORD)}@`);

  it.each([
    ['GESTALT_META_URL', 'meta'],
    ['GESTALT_GATEWAY_URL', 'meta'],
    ['CI_URL', 'gateway'],
    ['AWS_ENDPOINT_URL', 'gateway'],
    ['AWS_ENDPOINT_URL_S3', 'gateway'],
    ['AWS_ENDPOINT_URL_STS', 'gateway'],
  ])('%s: exit 2 naming the variable, nothing sent, the password nowhere', async (variable, mode) => {
    const dir = await projectWithPackages(['a.zip']);
    const bucket = await freshBucket(stack);
    const base = mode === 'meta' ? metaEnv(dir, bucket) : gatewayEnv(dir, bucket);
    const url = variable === 'GESTALT_GATEWAY_URL' ? 'https://gw.example.test' : variable === 'GESTALT_META_URL' ? meta.url : variable === 'CI_URL' ? gw.url : stack.proxy.url;
    const metaCalls = meta.requests.length;
    const gwCalls = gw.requests.length;
    const s3Calls = stack.proxy.requests.length;
    const r = await run(['deploy'], { ...base, [variable]: withUserinfo(url) }, dir);
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain(`${variable}: contains a user name or password`);
    expect(r.output).not.toContain('deployer:');
    expect(meta.requests.length).toBe(metaCalls);
    expect(gw.requests.length).toBe(gwCalls);
    expect(stack.proxy.requests.length).toBe(s3Calls);
    // doctor goes on checking what it can (read-only) after a configuration problem; it says the same.
    const doctor = await run(['doctor'], { ...base, [variable]: withUserinfo(url) }, dir);
    expect(doctor.code, doctor.output).toBe(2);
    expect(doctor.output).toContain(`${variable}: contains a user name or password`);
  });

  it('a value that is not a URL at all is not echoed up to its @ either', async () => {
    const dir = await projectWithPackages(['a.zip']);
    const r = await run(['deploy'], gatewayEnv(dir, await freshBucket(stack), { CI_URL: `deployer:${PASSWORD}@gw.example.test/deploy` }), dir);
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain("CI_URL: '[REDACTED]@gw.example.test/deploy' is not an http(s) URL");
  });

  it('plain http:// to Gestalt works, with a warning that credentials travel unencrypted', async () => {
    const dir = await projectWithPackages(['a.zip']);
    const r = await run(['deploy'], metaEnv(dir, await freshBucket(stack)), dir);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/WARNING: GESTALT_META_URL uses plain http:\/\/, so GESTALT_TOKEN and every request travel unencrypted/);
  });
});

describe('a service that echoes a secret where the quoted part of its answer is cut', () => {
  // Placed so that the old cut (200 characters) fell inside the secret and printed its first characters.
  const pad = (n: number) => 'x'.repeat(n);

  it('Meta: a 403 echoing the bearer token, in JSON and in plain text', async () => {
    const dir = await projectWithPackages(['a.zip']);
    // JSON: the token straddles the 300-character cut of Meta's message; plain text: it sits just before the
    // 200-character cut, where the old code printed its first characters.
    for (const [type, body, shown] of [
      ['application/json', JSON.stringify({ code: 403, message: `${pad(290)} token ${BEARER} is not permitted` }), /HTTP 403: x{290} token …\)/],
      ['text/plain', `Forbidden: ${pad(176)} ${BEARER} not permitted`, /HTTP 403: Forbidden: x{176} \[REDACTED\] n…\)/],
    ] as const) {
      const server = await answering(403, type, body);
      try {
        const r = await run(['deploy'], metaEnv(dir, await freshBucket(stack), { GESTALT_META_URL: server.url }), dir);
        expect(r.code, r.output).toBe(1);
        expect(r.output).toMatch(/Gestalt Meta did not permit read environment/);
        expect(r.output).toMatch(shown);
      } finally {
        await server.close();
      }
    }
  });

  it('Meta: a service that echoes only the first 12 characters of the token', async () => {
    const dir = await projectWithPackages(['a.zip']);
    const server = await answering(403, 'application/json', JSON.stringify({ code: 403, message: `token '${BEARER.slice(0, 12)}…' is not permitted` }));
    try {
      const r = await run(['deploy'], metaEnv(dir, await freshBucket(stack), { GESTALT_META_URL: server.url }), dir);
      expect(r.code, r.output).toBe(1);
      expect(r.output).toContain("token '[REDACTED]…' is not permitted");
    } finally {
      await server.close();
    }
  });

  it('gateway: an ERROR log line echoing GF_API_SECRET', async () => {
    const dir = await projectWithPackages(['echo.zip']);
    gw.failFor('echo.zip', `ERROR: ${pad(186)}${GF_SECRET} rejected\n`);
    const r = await run(['deploy'], gatewayEnv(dir, await freshBucket(stack)), dir);
    expect(r.code, r.output).toBe(1);
    // The secret starts 7 characters before the cut: masked whole first, so not even "[REDACT" is left.
    expect(r.output).toMatch(/answered with a log instead of JSON: 'ERROR: x{186}…'/);
  });

  it('S3: an error message echoing the AWS secret key', async () => {
    const dir = await projectWithPackages(['a.zip']);
    const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>OddFailure</Code><Message>${pad(280)} key ${AWS_SECRET} refused</Message><RequestId>r1</RequestId></Error>`;
    // The bucket answers HeadBucket (the preflight), so the record read is the call that quotes the message.
    const server = await answering(400, 'application/xml', xml, 200);
    try {
      const r = await run(['deploy'], gatewayEnv(dir, await freshBucket(stack), { AWS_ENDPOINT_URL_S3: server.url }), dir);
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(/S3 GetObject \S+ failed: OddFailure \(HTTP 400\): x+/);
    } finally {
      await server.close();
    }
  });
});

describe('symlinks while matching artifacts', () => {
  it('loops (dist/l1 -> .., dist/l2 -> ..) end quickly and are not followed', async () => {
    const dir = await projectWithPackages(['a.zip', 'b.zip']);
    await symlink('..', join(dir, 'dist/l1'));
    await symlink('..', join(dir, 'dist/l2'));
    await mkdir(join(dir, 'dist/sub'));
    await symlink('../..', join(dir, 'dist/sub/up'));
    const started = Date.now();
    const r = await run(['plan'], gatewayEnv(dir, await freshBucket(stack), { LAMBDA_ARTIFACTS: 'dist/**/*.zip' }), dir);
    const ms = Date.now() - started;
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/dist\/a\.zip → /);
    expect(r.output).toMatch(/dist\/b\.zip → /);
    expect(r.output).not.toMatch(/l1\/|l2\/|up\//);
    // A whole plan run; the walk itself is a few milliseconds. Before, it did not end.
    expect(ms).toBeLessThan(15_000);
  });

  it('a link to /etc with dist/**/* is one problem, not a list of /etc; long problem lists are capped with a count', async () => {
    const dir = await projectWithPackages(['a.zip']);
    await symlink('/etc', join(dir, 'dist/etc'));
    for (let i = 0; i < 14; i++) await mkdir(join(dir, `dist/zz${String(i).padStart(2, '0')}`));
    const r = await run(['plan'], gatewayEnv(dir, await freshBucket(stack), { LAMBDA_ARTIFACTS: 'dist/**/*' }), dir);
    expect(r.code, r.output).toBe(2);
    const problems = r.output.split('\n').filter((l) => l.startsWith('  - LAMBDA_ARTIFACTS:'));
    expect(problems).toHaveLength(11);
    expect(r.output).toContain("'dist/etc' is a symlink to the directory /etc, outside the project dir, and was not followed");
    expect(r.output).toContain("… and 5 more match(es) of 'dist/**/*' with problems, not listed");
    expect(r.output).not.toMatch(/dist\/etc\/\w/);
  });
});

describe('control characters in names', () => {
  it('a file name that would forge a log line is a configuration error, printed escaped', async () => {
    const dir = await makeProject({ 'dist/x\n[ ok ] fake line.zip': 'PK', 'dist/esc\x1b[31m.zip': 'PK', 'dist/fine.zip': 'PK' });
    const r = await run(['deploy'], gatewayEnv(dir, await freshBucket(stack)), dir);
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain("file name 'dist/x\\n[ ok ] fake line.zip' contains control characters");
    expect(r.output).toContain("file name 'dist/esc\\x1b[31m.zip' contains control characters");
    expect(r.output.split('\n').some((l) => l.startsWith('[ ok ]'))).toBe(false);
    expect(r.output).not.toContain('\x1b[31m');
  });

  it('a function name with a control character (from GESTALT_NAME_TEMPLATE) is a configuration error naming it', async () => {
    const dir = await projectWithPackages(['a.zip']);
    const r = await run(['deploy'], metaEnv(dir, await freshBucket(stack), { GESTALT_NAME_TEMPLATE: '{project}/\u202e{file}' }), dir);
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain("GESTALT_NAME_TEMPLATE: function name 'lambdas/\\u202ea.zip' (for 'dist/a.zip') contains control characters");
  });
});

describe('the written files', () => {
  it('are part of the scan: a report written after a failure holds no secret either', async () => {
    const dir = await projectWithPackages(['echo2.zip']);
    gw.failFor('echo2.zip', `ERROR: auth ${BASIC} / ${GF_SECRET}`);
    const r = await run(['deploy'], gatewayEnv(dir, await freshBucket(stack)), dir);
    expect(r.code).toBe(1);
    expect(r.files.json?.functions[0]?.error).toMatch(/\[REDACTED\]/);
  });
});
