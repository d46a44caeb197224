// GatewayTarget and its session in-process against the fake deployment lambda: the payloads the original
// protocol carries, how its answers map to results, and the sentence each failure earns.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GatewaySettings } from '../../src/config/types.js';
import { GatewayTarget } from '../../src/gestalt/gateway/target.js';
import type { Placement } from '../../src/gestalt/types.js';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { collectingLogger, GF_BASIC, GF_KEY, GF_SECRET, httpClient, JOB, packaged, packageUrl, record, recorded, rejection, type Collected } from './fixtures.js';

const PLACEMENT: Placement = { api: 'dev1', environmentId: 'e7b3ca8b-5b9a-4a51-8309-3ced4718e41f' };
const NAME = 'lambdas/main/a.zip';
/** The fields deploy and stop payloads share: the function, where it goes, and the job it came from. */
const WHERE = { file: 'a.zip', runtime: 'nodejs', api: 'dev1', env_id: PLACEMENT.environmentId, project: 'lambdas', project_path: 'acme/lambdas', git_env: 'review/main', git_ref: 'main' };
let gw: GatewayFake;
let collected: Collected;

beforeEach(async () => {
  gw = await startGatewayFake();
  gw.requireAuth(GF_KEY, GF_SECRET);
  collected = collectingLogger();
});
afterEach(async () => {
  collected.expectNoSecrets();
  await gw.close();
});

function target(overrides: Partial<GatewaySettings> = {}, timeoutMs?: number): GatewayTarget {
  return new GatewayTarget({ mode: 'gateway', url: gw.url, auth: { kind: 'basic', key: GF_KEY, secret: GF_SECRET }, ...overrides }, JOB, httpClient(collected.log, timeoutMs), collected.log);
}
const deployReq = (file = 'a.zip') => ({ fn: packaged(file), packageKey: `k/${file}`, packageUrl: packageUrl(file) });
/** As the run deploys: with the session's claim, which in gateway mode chooses nothing (the lambda names functions). */
async function deploy(t = target(), file = 'a.zip') {
  const session = await t.open(PLACEMENT);
  const claim = session.claim(packaged(file));
  expect(claim).toEqual({});
  return session.deploy({ ...deployReq(file), claim });
}
const stopRecord = () => record([], { mode: 'gateway', api: PLACEMENT.api, environmentId: PLACEMENT.environmentId });

describe('GatewaySession.deploy', () => {
  it('one POST with exactly the original payload and the key pair as Basic auth; created, then updated', async () => {
    expect(await deploy()).toEqual({ action: 'created', endpoint: 'created', url: `https://gw.example.test/dev1/${NAME}` });
    expect(gw.requests).toHaveLength(1);
    const [req] = gw.requests;
    expect(req?.method).toBe('POST');
    expect(req?.headers.authorization).toBe(`Basic ${GF_BASIC}`);
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.body).toEqual({ ...WHERE, lambda_url: packageUrl('a.zip'), git_sha: JOB.sha });
    expect(await deploy()).toEqual({ action: 'updated', endpoint: 'existing', url: `https://gw.example.test/dev1/${NAME}` });
  });

  it('an external_url built from an unset API_GATEWAY_URL is dropped with a warning saying what to set', async () => {
    await gw.close();
    gw = await startGatewayFake({ gatewayUrl: 'undefined' });
    const result = await deploy();
    expect(result.url).toBeUndefined();
    expect(collected.lines).toContain(`WARNING: The deployment lambda returned external_url 'undefined/dev1/${NAME}' for a.zip; set API_GATEWAY_URL on the deployment lambda to get a usable URL.`);
  });

  it('a failure the lambda reports as a 200 log quotes its ERROR line with advice, never its logged credentials', async () => {
    gw.knownApis.clear();
    const err = await rejection(deploy());
    expect(err.message).toBe("The deployment lambda (CI_URL) failed for a.zip: it answered with a log instead of JSON: 'ERROR: could not find target API': check LAMBDA_API names an API in that environment.");
    // The original's log echoes the Authorization header; only its ERROR line may travel on.
    expect(gw.requests).toHaveLength(1);
  });

  it('JSON without a lambda result is a failure, quoted', async () => {
    gw.failNext(1, { status: 200, contentType: 'application/json', body: '{"error":"boom"}' });
    const err = await rejection(deploy());
    expect(err.message).toBe('The deployment lambda (CI_URL) failed for a.zip: it answered JSON without a lambda result: {"error":"boom"}.');
  });

  it('401 without credentials says to set GF_API_KEY and GF_API_SECRET', async () => {
    const err = await rejection(deploy(target({ auth: undefined })));
    expect(err.message).toBe(`The deployment lambda (CI_URL) answered HTTP 401 for ${NAME}: it needs credentials; set GF_API_KEY and GF_API_SECRET.`);
    expect(gw.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('401 with credentials says the key pair was refused; it is not retried', async () => {
    const err = await rejection(deploy(target({ auth: { kind: 'basic', key: GF_KEY, secret: 'wrong-secret-456' } })));
    expect(err.message).toBe(`The deployment lambda (CI_URL) answered HTTP 401 for ${NAME}: GF_API_KEY/GF_API_SECRET were refused; check the key pair.`);
    expect(gw.requests).toHaveLength(1);
    collected.expectNoSecrets(['wrong-secret-456']);
  });

  it('404 says CI_URL is not the lambda\'s endpoint', async () => {
    const err = await rejection(deploy(target({ url: gw.url.replace(/\/deploy$/, '/nope') })));
    expect(err.message).toBe(`The deployment lambda (CI_URL) answered HTTP 404 for ${NAME}: check CI_URL is the lambda's endpoint URL.`);
    expect(gw.requests).toHaveLength(1);
  });

  it('a 502 that lasts is asked three times (the retry policy), then quoted with "after retries"', async () => {
    gw.failNext(3, { status: 502, body: 'Bad Gateway' });
    const err = await rejection(deploy());
    expect(err.message).toBe(`The deployment lambda (CI_URL) answered HTTP 502 for ${NAME} after retries: 'Bad Gateway'.`);
    expect(gw.requests.map((r) => r.status)).toEqual([502, 502, 502]);
  });

  it('a 503 that passes is retried and the deploy succeeds', async () => {
    gw.failNext(1, { status: 503 });
    expect((await deploy()).action).toBe('created');
    expect(gw.requests.map((r) => r.status)).toEqual([503, 200]);
    expect(collected.lines.some((l) => l.startsWith(`  POST ${gw.url}: HTTP 503; retry 1 in `))).toBe(true);
  });

  it('a deploy POST that timed out is not sent again (it may still be deploying), and says to rerun', async () => {
    gw.setDelay(400);
    const err = await rejection(deploy(target({}, 100)));
    expect(err.message).toMatch(new RegExp(`^The deployment lambda \\(CI_URL\\) gave no answer for ${NAME} in time \\(.+\\); it may still be deploying it, so it was not asked again\\. Rerun the job: a repeated deploy patches the function by name\\.$`));
    expect(gw.requests).toHaveLength(1);
  });

  it('a lambda that cannot be reached names CI_URL', async () => {
    const url = gw.url;
    await gw.close();
    const err = await rejection(deploy(target({ url })));
    expect(err.message).toMatch(new RegExp(`^Could not reach the deployment lambda at CI_URL for ${NAME}: connection to http://127\\.0\\.0\\.1:\\d+/deploy failed before an answer \\(ECONNREFUSED\\); check CI_URL and that the runner can reach it\\.$`));
  });
});

describe('GatewaySession.remove, plan, discover; GatewayTarget.probe', () => {
  it('remove sends the stop payload from the record, not from the job', async () => {
    await deploy();
    const session = await target().open(undefined);
    const result = await session.remove(recorded('a.zip'), { ...stopRecord(), ref: 'main', sha: 'f'.repeat(40) });
    expect(result).toEqual({ outcome: 'removed', endpoints: 1 });
    expect(gw.requests[1]?.body).toEqual({ action: 'stop', ...WHERE, git_sha: 'f'.repeat(40) });
    expect(gw.lambdas().size).toBe(0);
    expect(await session.remove(recorded('a.zip'), stopRecord())).toEqual({ outcome: 'absent', endpoints: 0 });
  });

  it('a stop answered with an error is a failure, not \'absent\' (only {} or {lambda_name, endpoints} are answers)', async () => {
    gw.failNext(1, { status: 200, contentType: 'application/json', body: '{"error":"ERROR: could not delete lambda"}' });
    const session = await target().open(undefined);
    const err = await rejection(session.remove(recorded('a.zip'), stopRecord()));
    expect(err.message).toBe(`The deployment lambda (CI_URL) failed to stop a.zip: it answered JSON that is not a stop result: '{"error":"ERROR: could not delete lambda"}'.`);
  });

  it('plan asks nothing: the record decides create or update, the endpoint is unknown', async () => {
    const session = await target().open(PLACEMENT);
    expect(await session.plan(deployReq())).toEqual({ action: 'create', endpoint: 'unknown' });
    expect(await session.plan({ ...deployReq(), previous: recorded('a.zip') })).toEqual({ action: 'update', endpoint: 'unknown' });
    expect(await session.discover()).toEqual([]);
    expect(session.mayExist('any-id')).toBe(true);
    expect(gw.requests).toEqual([]);
  });

  it('probe is one HEAD (never a deploy) and reports the status', async () => {
    expect(await target().probe()).toBe('CI_URL answered HTTP 405');
    expect(gw.requests.map((r) => [r.method, r.headers.authorization])).toEqual([['HEAD', `Basic ${GF_BASIC}`]]);
    expect(gw.lambdas().size).toBe(0);
  });
});
