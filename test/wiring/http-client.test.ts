// createHttpClient in-process against the gateway fake (statuses, resets, delays), the Meta emulator (a real
// redirect) and a server that stalls its body: what is retried, what is not, and what a caller gets back.
import { createServer } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpClient, NetworkError, type HttpClient } from '../../src/net/http.js';
import { startGatewayFake, type GatewayFake } from '../support/gateway-fake.js';
import { serveLoopback } from '../support/loopback.js';
import { startMetaEmulator } from '../support/meta-emulator.js';
import { collectingLogger, FAST_RETRY, GF_BASIC, rejection, type Collected } from './fixtures.js';

let gw: GatewayFake;
let collected: Collected;
let http: HttpClient;

beforeEach(async () => {
  gw = await startGatewayFake();
  collected = collectingLogger();
  http = createHttpClient({ timeoutMs: 10_000, retry: FAST_RETRY, log: collected.log });
});
afterEach(async () => {
  collected.expectNoSecrets();
  await gw.close();
});

const statuses = () => gw.requests.map((r) => r.status);
const post = (extra: { retry?: boolean } = {}) => http.request({ method: 'POST', url: gw.url, json: { file: 'a.zip' }, headers: { authorization: `Basic ${GF_BASIC}` }, ...extra });
async function networkError(promise: Promise<unknown>): Promise<NetworkError> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(NetworkError);
  return err as NetworkError;
}

describe('createHttpClient: the request', () => {
  it('sends JSON with its content type, asks for JSON, passes headers through, and hands back status, headers and text', async () => {
    gw.failNext(1, { status: 200, contentType: 'application/json', body: '{"ok":true}' });
    const res = await post();
    expect([res.status, res.headers.get('content-type'), res.text]).toEqual([200, 'application/json', '{"ok":true}']);
    const [req] = gw.requests;
    expect([req?.method, req?.rawBody, req?.headers['content-type'], req?.headers.accept, req?.headers.authorization]).toEqual(['POST', '{"file":"a.zip"}', 'application/json', 'application/json', `Basic ${GF_BASIC}`]);
    expect(collected.lines).toEqual([expect.stringMatching(new RegExp(`^\\[debug\\] POST ${gw.url} → 200 \\(\\d+ ms\\)$`))]);
  });

  it('a request without a body carries no content type', async () => {
    await http.request({ method: 'GET', url: gw.url });
    expect(gw.requests[0]?.headers['content-type']).toBeUndefined();
  });

  it('does not follow redirects: the 301 and its Location reach the caller', async () => {
    const meta = await startMetaEmulator();
    try {
      const res = await http.request({ method: 'GET', url: `${meta.url}/root/environments/` });
      expect([res.status, res.headers.get('location')]).toEqual([301, '/root/environments']);
      expect(meta.requests.map((r) => r.path)).toEqual(['/root/environments/']);
    } finally {
      await meta.close();
    }
  });
});

describe('createHttpClient: retries', () => {
  it('retries 503 and 429, logging each retry, and returns the answer that followed', async () => {
    gw.failNext(1, { status: 503 });
    gw.failNext(1, { status: 429 });
    gw.failNext(1, { status: 200, body: 'ok' });
    const res = await post();
    expect(res.status).toBe(200);
    expect(statuses()).toEqual([503, 429, 200]);
    const retries = collected.lines.filter((l) => !l.startsWith('[debug]'));
    expect(retries).toEqual([expect.stringMatching(new RegExp(`^  POST ${gw.url}: HTTP 503; retry 1 in \\d ms$`)), expect.stringMatching(new RegExp(`^  POST ${gw.url}: HTTP 429; retry 2 in \\d ms$`))]);
  });

  it('out of tries on a 5xx, hands the last answer to the caller instead of throwing', async () => {
    gw.failNext(3, { status: 500, body: 'still broken' });
    const res = await post();
    expect([res.status, res.text]).toEqual([500, 'still broken']);
    expect(statuses()).toEqual([500, 500, 500]);
  });

  it('never retries an answer about the request itself (4xx other than 429)', async () => {
    for (const status of [400, 401, 404, 409, 422]) {
      gw.requests.length = 0;
      gw.failNext(1, { status });
      expect((await post()).status).toBe(status);
      expect(statuses()).toEqual([status]);
    }
  });

  it('retries a dropped connection, then succeeds', async () => {
    gw.failNext(1, { reset: true });
    gw.failNext(1, { status: 200, body: 'ok' });
    expect((await post()).status).toBe(200);
    expect(statuses()).toEqual([0, 200]);
    expect(collected.lines).toContainEqual(expect.stringMatching(/^ {2}POST .*: connection to http:\/\/127\.0\.0\.1:\d+\/\S* failed (before an answer|while reading the answer) \(.+\); retry 1 in \d ms$/));
  });

  it('out of tries on dropped connections, throws a NetworkError that is not a timeout', async () => {
    gw.failNext(3, { reset: true });
    const err = await networkError(post());
    expect(err.timedOut).toBe(false);
    expect(err.message).toMatch(/^connection to http:\/\/127\.0\.0\.1:\d+\/\S* failed (before an answer|while reading the answer) \(.+\)$/);
    expect(statuses()).toEqual([0, 0, 0]);
  });

  it('retry: false sends once, whatever the answer or the failure', async () => {
    gw.failNext(1, { status: 503 });
    expect((await post({ retry: false })).status).toBe(503);
    expect(statuses()).toEqual([503]);
    gw.requests.length = 0;
    gw.failNext(1, { reset: true });
    await networkError(post({ retry: false }));
    expect(statuses()).toEqual([0]);
    expect(collected.lines.filter((l) => l.includes('retry'))).toEqual([]);
  });

  it('a refused connection is a NetworkError naming ECONNREFUSED', async () => {
    const url = gw.url;
    await gw.close();
    const err = await networkError(http.request({ method: 'GET', url }));
    expect([err.message.replace(/:\d+\//, ':PORT/'), err.timedOut]).toEqual(['connection to http://127.0.0.1:PORT/deploy failed before an answer (ECONNREFUSED)', false]);
  });
});

describe('createHttpClient: timeouts', () => {
  it('a request with no answer within the timeout is a NetworkError saying so', async () => {
    gw.setDelay(2_000);
    const client = createHttpClient({ timeoutMs: 1_000, retry: FAST_RETRY, log: collected.log });
    const err = await networkError(client.request({ method: 'POST', url: gw.url, json: {}, retry: false }));
    expect([err.message.replace(/:\d+\//, ':PORT/'), err.timedOut]).toEqual([expect.stringMatching(/^no complete answer from http:\/\/127\.0\.0\.1:PORT\/\S* within 1 s/), true]);
    expect(collected.lines).toContainEqual(expect.stringMatching(new RegExp(`^\\[debug\\] POST ${gw.url} → timeout before an answer \\(\\d+ ms\\)$`)));
  });

  it('a timeout is retried like a dropped connection', async () => {
    gw.setDelay(2_000);
    const client = createHttpClient({ timeoutMs: 200, retry: FAST_RETRY, log: collected.log });
    const err = await networkError(client.request({ method: 'GET', url: gw.url }));
    expect(err.timedOut).toBe(true);
    expect(gw.requests).toHaveLength(3);
  });

  // ofetch's own `timeout` is cleared once the headers arrive; a server that sends headers and then stalls the
  // body would hold the request (and the job) forever, so the deadline must cover reading the body too.
  it('the timeout also covers reading the body', async () => {
    const stall = await serveLoopback(createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
    }));
    try {
      const client = createHttpClient({ timeoutMs: 300, retry: FAST_RETRY, log: collected.log });
      const settled = client.request({ method: 'GET', url: stall.url, retry: false }).then(() => 'answered', (e: unknown) => e);
      const outcome = await Promise.race([settled, new Promise((resolve) => setTimeout(() => resolve('still reading after 2 s'), 2_000))]);
      expect(outcome).toBeInstanceOf(NetworkError);
      expect((outcome as NetworkError).timedOut).toBe(true);
    } finally {
      await stall.close();
    }
  });
});
