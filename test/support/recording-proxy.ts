// Transparent HTTP reverse proxy that records which AWS access key signed each request.
// Headers (Host included) pass unchanged so a SigV4 signature made for the proxy's address
// still verifies at the target; bodies stream in both directions (aws-chunked uploads,
// large downloads) without buffering.
import { Agent, createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeServer, forwardTo, listen } from './loopback.js';

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Extension: the raw query string ('' when none). */
  query: string;
  accessKeyId?: string;
  securityToken?: string;
  /** Conditional-write headers, as sent (S3 If-Match / If-None-Match). */
  ifMatch?: string;
  ifNoneMatch?: string;
  /** 0 until the target answers; 502 when the target could not be reached. */
  status: number;
  /** When the request arrived and when its answer was passed on (Date.now(), like the gateway fake's `at`). */
  at: number;
  answeredAt?: number;
}

/** An answer the proxy gives itself instead of forwarding (the target never sees the request). */
export interface InterceptAnswer {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export interface RecordingProxy {
  url: string;
  requests: RecordedRequest[];
  /** When set and it returns an answer, the request is answered with it and not forwarded. */
  intercept: ((req: RecordedRequest) => InterceptAnswer | undefined) | undefined;
  /** When set, the target's answer to a request is held back this many milliseconds (a slow link). */
  delayMs?: (request: RecordedRequest) => number;
  /** When set and it returns a promise, the target's answer is held back until it settles (a test decides when). */
  hold?: (request: RecordedRequest) => Promise<void> | undefined;
  close(): Promise<void>;
}

/** An S3 error answer as S3 words it, e.g. s3ErrorAnswer(403, 'AccessDenied', 'Access Denied'). */
export function s3ErrorAnswer(status: number, code: string, message: string): InterceptAnswer {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>0000000000000000</RequestId></Error>`;
  return { status, headers: { 'content-type': 'application/xml' }, body };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function record(req: IncomingMessage): RecordedRequest {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q + 1);
  const params = new URLSearchParams(query);
  const entry: RecordedRequest = { method: req.method ?? 'GET', path, query, status: 0, at: Date.now() };
  const auth = headerValue(req.headers.authorization);
  const fromHeader = auth ? /Credential=([^/,\s]+)\//.exec(auth)?.[1] : undefined;
  // Presigned URLs carry the credential in the query instead of a header.
  const fromQuery = params.get('X-Amz-Credential')?.split('/')[0];
  const accessKeyId = fromHeader ?? fromQuery;
  if (accessKeyId) entry.accessKeyId = accessKeyId;
  const token = headerValue(req.headers['x-amz-security-token']) ?? params.get('X-Amz-Security-Token') ?? undefined;
  if (token) entry.securityToken = token;
  const ifMatch = headerValue(req.headers['if-match']);
  if (ifMatch) entry.ifMatch = ifMatch;
  const ifNoneMatch = headerValue(req.headers['if-none-match']);
  if (ifNoneMatch) entry.ifNoneMatch = ifNoneMatch;
  return entry;
}

export async function startRecordingProxy(targetUrl: string): Promise<RecordingProxy> {
  const target = new URL(targetUrl);
  if (target.protocol !== 'http:') throw new Error(`recording proxy supports http targets only, got ${targetUrl}`);
  const requests: RecordedRequest[] = [];
  const agent = new Agent({ keepAlive: true });
  const proxy: RecordingProxy = { url: '', requests, intercept: undefined, close: () => Promise.resolve() };

  function forward(req: IncomingMessage, res: ServerResponse): void {
    const entry = record(req);
    requests.push(entry);
    const own = proxy.intercept?.(entry);
    if (own) {
      // Answered before the body, as S3 refuses a request: a client waiting on 100-continue gets this instead.
      entry.status = own.status;
      req.resume();
      res.writeHead(own.status, { ...own.headers, 'content-length': Buffer.byteLength(own.body) });
      res.end(req.method === 'HEAD' ? undefined : own.body);
      return;
    }
    const upstream = forwardTo(target, req, agent);
    // The client sent Expect: 100-continue and waits for the target's verdict before the body.
    upstream.on('continue', () => res.writeContinue());
    upstream.on('response', (up) => {
      const pass = () => {
        entry.status = up.statusCode ?? 0;
        entry.answeredAt = Date.now();
        res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
        up.pipe(res);
        up.on('error', () => res.destroy());
      };
      const delay = proxy.delayMs?.(entry) ?? 0;
      const held = proxy.hold?.(entry);
      const afterHold = () => (held ? void held.then(pass, pass) : pass());
      if (delay > 0) setTimeout(afterHold, delay);
      else afterHold();
    });
    upstream.on('error', (err) => {
      if (res.headersSent) { res.destroy(); return; }
      entry.status = 502;
      const text = `recording proxy: ${err.message}`;
      res.writeHead(502, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    req.on('aborted', () => upstream.destroy());
    req.pipe(upstream);
  }

  const server = createServer(forward);
  // Without this listener Node would answer 100 Continue itself, before the target has decided.
  server.on('checkContinue', forward);
  const port = await listen(server);
  proxy.url = `http://127.0.0.1:${port}`;
  proxy.close = async () => {
    await closeServer(server);
    agent.destroy();
  };
  return proxy;
}
