// Fake of the original Gestalt "deployment lambda" (the Nashorn script behind CI_URL, reached through the API
// gateway). What matters for the runner is how the original answered: success as pretty JSON, and every failure
// it detected as status 200 with its plain-text log (lines end in "\r\n\r\n" because its log() appended CRLF
// twice). Only the gateway in front of it answered non-200 (401, 5xx).
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveLoopback } from './loopback.js';

// Tests read payload fields directly (req.body.file); `unknown` would force a cast at every use.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

export interface GatewayRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or the raw string when it was not JSON. */
  body: Json;
  rawBody: string;
  authorization?: { key: string; secret: string };
  /** Arrival time (Date.now()). */
  at: number;
  /** Status answered; 0 when the socket was reset instead. */
  status: number;
}

export interface FailHow {
  status?: number;
  body?: string;
  contentType?: string;
  /** Destroy the socket without answering. */
  reset?: boolean;
}

export interface GatewayFake {
  /** The CI_URL. */
  url: string;
  requests: GatewayRequest[];
  /** Lambda name -> last deploy payload that created or patched it. */
  lambdas(): Map<string, Json>;
  /** API name -> endpoint names (same as lambda names) under it. */
  endpoints(): Map<string, string[]>;
  knownApis: Set<string>;
  /** null accepts any env_id. */
  knownEnvs: Set<string> | null;
  readonly maxInFlight: number;
  readonly inFlight: number;
  requireAuth(key: string, secret: string): void;
  failNext(n: number, how: FailHow): void;
  failFor(file: string, body: string): void;
  setDelay(ms: number): void;
  close(): Promise<void>;
}

export interface GatewayFakeOptions {
  /** The original's API_GATEWAY_URL: base of every external_url. */
  gatewayUrl?: string;
}

const DEPLOY_FIELDS = ['file', 'runtime', 'api', 'env_id', 'project', 'lambda_url', 'git_ref', 'git_sha'] as const;
const STOP_FIELDS = ['file', 'api', 'env_id', 'project', 'git_ref', 'git_sha'] as const;
const META_URL = 'http://meta.gestalt.internal:14374';

function parseBasic(header: string | undefined): { key: string; secret: string } | undefined {
  const m = /^Basic\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { key: decoded.slice(0, i), secret: decoded.slice(i + 1) };
}

export async function startGatewayFake(opts: GatewayFakeOptions = {}): Promise<GatewayFake> {
  const gatewayUrl = (opts.gatewayUrl ?? 'https://gw.example.test').replace(/\/+$/, '');
  const requests: GatewayRequest[] = [];
  const lambdas = new Map<string, Json>();
  const endpoints = new Map<string, Set<string>>();
  const failQueue: FailHow[] = [];
  const failFiles = new Map<string, string>();
  let auth: { key: string; secret: string } | undefined;
  let delayMs = 0;
  let inFlight = 0;
  let maxInFlight = 0;

  const fake: GatewayFake = {
    url: '',
    requests,
    lambdas: () => new Map(lambdas),
    endpoints: () => new Map([...endpoints].map(([api, names]) => [api, [...names].sort()])),
    knownApis: new Set(['dev1']),
    knownEnvs: null,
    get maxInFlight() {
      return maxInFlight;
    },
    get inFlight() {
      return inFlight;
    },
    requireAuth(key, secret) {
      auth = { key, secret };
    },
    failNext(n, how) {
      for (let i = 0; i < n; i++) failQueue.push(how);
    },
    failFor(file, body) {
      failFiles.set(file, body);
    },
    setDelay(ms) {
      delayMs = ms;
    },
    close: () => Promise.resolve(),
  };

  const send = (res: ServerResponse, rec: GatewayRequest, status: number, contentType: string, body: string) => {
    rec.status = status;
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  // The original's log: what it printed before the point of failure, then the ERROR line.
  const errorLog = (payload: unknown, creds: string | undefined, lines: string[]) =>
    [
      `args : ${JSON.stringify(payload, null, 2)}`,
      // The original logged its whole context, Authorization value included: a runner that echoes this body
      // verbatim leaks the Basic credentials (base64, so check for the encoded form too).
      `context : ${JSON.stringify({ creds: creds ?? '' }, null, 2)}`,
      `[init] found meta: ${META_URL}`,
      ...lines,
    ]
      .map((l) => `${l}\r\n\r\n`)
      .join('');

  const handle = async (req: IncomingMessage, res: ServerResponse, rawBody: string) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let body: Json = rawBody;
    try {
      body = JSON.parse(rawBody);
    } catch {
      // kept raw
    }
    const rec: GatewayRequest = {
      method: req.method ?? '',
      path: url.pathname + url.search,
      headers: { ...req.headers },
      body,
      rawBody,
      at: Date.now(),
      status: 0,
    };
    const authorization = parseBasic(req.headers.authorization);
    if (authorization) rec.authorization = authorization;
    requests.push(rec);

    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));

    const fail = failQueue.shift();
    if (fail) {
      if (fail.reset) {
        req.socket.destroy();
        return;
      }
      send(res, rec, fail.status ?? 200, fail.contentType ?? 'text/plain', fail.body ?? (fail.status ? `HTTP ${fail.status}` : ''));
      return;
    }

    if (url.pathname !== '/deploy') {
      send(res, rec, 404, 'application/json', JSON.stringify({ code: 404, message: 'Not Found' }));
      return;
    }
    if (req.method !== 'POST') {
      send(res, rec, 405, 'application/json', JSON.stringify({ code: 405, message: 'Method Not Allowed' }));
      return;
    }
    if (auth && (authorization?.key !== auth.key || authorization?.secret !== auth.secret)) {
      send(res, rec, 401, 'application/json', JSON.stringify({ code: 401, message: 'Authentication required' }));
      return;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      // Nashorn's JSON.parse threw before the script logged anything; the lambda executor reported a 500.
      send(res, rec, 500, 'text/plain', 'SyntaxError: Invalid JSON\n');
      return;
    }

    const isStop = body.action === 'stop';
    const missing = (isStop ? STOP_FIELDS : DEPLOY_FIELDS).filter(
      (f) => typeof body[f] !== 'string' || body[f] === '',
    );
    if (missing.length > 0) {
      // The original would misbehave in various ways (a lambda named "undefined", a TypeError on git_sha);
      // the fake refuses loudly so a payload bug in the runner cannot pass unnoticed.
      send(res, rec, 500, 'text/plain', `TypeError: payload is missing ${missing.join(', ')}\n`);
      return;
    }
    const failBody = failFiles.get(body.file);
    if (failBody !== undefined) {
      send(res, rec, 200, 'text/plain', failBody);
      return;
    }
    const creds = typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined;
    if (fake.knownEnvs && !fake.knownEnvs.has(body.env_id)) {
      send(res, rec, 200, 'text/plain', errorLog(body, creds, ['ERROR: could not find target environment']));
      return;
    }
    if (!fake.knownApis.has(body.api)) {
      send(res, rec, 200, 'text/plain', errorLog(body, creds, ['ERROR: could not find target API']));
      return;
    }

    const name = `${body.project}/${body.git_ref}/${body.file}`;
    if (isStop) {
      const answer: { lambda_name?: string; endpoints?: string[] } = {};
      if (lambdas.has(name)) {
        answer.lambda_name = name;
        answer.endpoints = [];
        for (const names of endpoints.values()) {
          if (names.delete(name)) answer.endpoints.push(name);
        }
        lambdas.delete(name);
      }
      send(res, rec, 200, 'application/json', JSON.stringify(answer, null, 2) + '\n');
      return;
    }

    const existed = lambdas.has(name);
    lambdas.set(name, body);
    let apiEndpoints = endpoints.get(body.api);
    if (!apiEndpoints) endpoints.set(body.api, (apiEndpoints = new Set()));
    const endpointExisted = apiEndpoints.has(name);
    apiEndpoints.add(name);
    const answer = {
      lambda: existed ? 'lambda patched' : 'lambda created',
      api_endpoint: endpointExisted ? 'already existed' : 'created',
      external_url: `${gatewayUrl}/${body.api}/${name}`,
    };
    send(res, rec, 200, 'application/json', JSON.stringify(answer, null, 2) + '\n');
  };

  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let counted = true;
    const done = () => {
      if (counted) {
        counted = false;
        inFlight--;
      }
    };
    res.once('close', done);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        done();
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`gateway fake crashed: ${String(err)}\n`);
        } else {
          res.destroy();
        }
      });
    });
  });
  const served = await serveLoopback(server);
  fake.url = `${served.url}/deploy`;
  fake.close = served.close;
  return fake;
}
