// Transparent HTTP reverse proxy that records which AWS access key signed each request.
// Headers (Host included) pass unchanged so a SigV4 signature made for the proxy's address
// still verifies at the target; bodies stream in both directions (aws-chunked uploads,
// large downloads) without buffering.
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeServer, listen } from './loopback.js';

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Extension: the raw query string ('' when none). */
  query: string;
  accessKeyId?: string;
  securityToken?: string;
  /** 0 until the target answers; 502 when the target could not be reached. */
  status: number;
}

/** An answer the proxy gives itself instead of forwarding (e.g. what real S3 says to an anonymous request). */
export interface CannedAnswer {
  status: number;
  body: string;
}

export interface RecordingProxy {
  url: string;
  requests: RecordedRequest[];
  /** When set and it returns an answer, the request is answered with it and not forwarded. */
  answer?: (request: RecordedRequest) => CannedAnswer | undefined;
  /** When set, the target's answer to a request is held back this many milliseconds (a slow link). */
  delayMs?: (request: RecordedRequest) => number;
  close(): Promise<void>;
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
  const entry: RecordedRequest = { method: req.method ?? 'GET', path, query, status: 0 };
  const auth = headerValue(req.headers.authorization);
  const fromHeader = auth ? /Credential=([^/,\s]+)\//.exec(auth)?.[1] : undefined;
  // Presigned URLs carry the credential in the query instead of a header.
  const fromQuery = params.get('X-Amz-Credential')?.split('/')[0];
  const accessKeyId = fromHeader ?? fromQuery;
  if (accessKeyId) entry.accessKeyId = accessKeyId;
  const token = headerValue(req.headers['x-amz-security-token']) ?? params.get('X-Amz-Security-Token') ?? undefined;
  if (token) entry.securityToken = token;
  return entry;
}

export async function startRecordingProxy(targetUrl: string): Promise<RecordingProxy> {
  const target = new URL(targetUrl);
  if (target.protocol !== 'http:') throw new Error(`recording proxy supports http targets only, got ${targetUrl}`);
  const requests: RecordedRequest[] = [];
  const agent = new Agent({ keepAlive: true });

  function forward(req: IncomingMessage, res: ServerResponse): void {
    const entry = record(req);
    requests.push(entry);
    const canned = proxy.answer?.(entry);
    if (canned) {
      entry.status = canned.status;
      req.resume();
      res.writeHead(canned.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(canned.body) });
      res.end(req.method === 'HEAD' ? undefined : canned.body);
      return;
    }
    const upstream = httpRequest({
      host: target.hostname,
      port: target.port || 80,
      method: req.method,
      path: req.url,
      // Raw header pairs keep order, case and duplicates; Host stays the proxy's address.
      headers: req.rawHeaders,
      agent,
      setHost: false,
    });
    // The client sent Expect: 100-continue and waits for the target's verdict before the body.
    upstream.on('continue', () => res.writeContinue());
    upstream.on('response', (up) => {
      const pass = () => {
        entry.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
        up.pipe(res);
        up.on('error', () => res.destroy());
      };
      const delay = proxy.delayMs?.(entry) ?? 0;
      if (delay > 0) setTimeout(pass, delay);
      else pass();
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
  const proxy: RecordingProxy = {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      await closeServer(server);
      agent.destroy();
    },
  };
  return proxy;
}
