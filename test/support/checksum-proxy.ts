// What real S3 does and moto does not: moto stores a PUT whose x-amz-checksum-sha256 does not match its body.
// This proxy sits in front of the S3 stand-in and, for every PUT that carries an x-amz-checksum-sha256 header
// (PutObject and UploadPart), recomputes the SHA-256 of the body and answers S3's own 400 BadDigest error on a
// mismatch, without forwarding; everything else passes unchanged. Bodies in aws-chunked framing with a trailing
// checksum are not verified (the runner never sends package bytes that way; the log shows if it ever did).
//
// Tests can also act at the moment a request arrives (`onRequest`, e.g. rewrite a package on disk after the
// runner hashed it) and change a body on the way (`corrupt`), which only a verifying store can catch.
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listen } from './loopback.js';

export interface ChecksumPut {
  path: string;
  partNumber?: number;
  /** The x-amz-checksum-sha256 header as sent (base64), if any. */
  claimed?: string;
  /** SHA-256 (base64) of the body as it reached the proxy, after any corruption. */
  actual: string;
  bytes: number;
  chunked: boolean;
  verdict: 'forwarded' | 'BadDigest';
}

export interface ChecksumProxyOptions {
  /** Runs before the request is handled; the request waits for it. */
  onRequest?: (req: IncomingMessage) => Promise<void> | void;
  /** Returns the body to use instead (a corrupted copy), or undefined to keep it. */
  corrupt?: (req: IncomingMessage, body: Buffer) => Buffer | undefined;
}

export interface ChecksumProxy {
  url: string;
  puts: ChecksumPut[];
  /** Every request seen, as `METHOD path` (query included). */
  requests: string[];
  close(): Promise<void>;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('base64');

function badDigest(res: ServerResponse, path: string): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>BadDigest</Code><Message>The SHA256 you specified did not match the calculated checksum.</Message><Resource>${path}</Resource><RequestId>checksum-proxy</RequestId></Error>`;
  res.writeHead(400, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
}

export async function startChecksumProxy(targetUrl: string, opts: ChecksumProxyOptions = {}): Promise<ChecksumProxy> {
  const target = new URL(targetUrl);
  const puts: ChecksumPut[] = [];
  const requests: string[] = [];

  const send = (req: IncomingMessage, res: ServerResponse, body?: Buffer) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== 'expect') headers[k] = v;
    if (body) headers['content-length'] = String(body.length);
    const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    if (body) up.end(body);
    else req.pipe(up);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    requests.push(`${req.method} ${req.url}`);
    await opts.onRequest?.(req);
    const claimed = req.headers['x-amz-checksum-sha256'] as string | undefined;
    if (req.method !== 'PUT') return send(req, res);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const original = Buffer.concat(chunks);
    const body = opts.corrupt?.(req, original) ?? original;
    const url = new URL(req.url ?? '/', 'http://proxy');
    const part = url.searchParams.get('partNumber');
    const chunked = /aws-chunked/.test(String(req.headers['content-encoding'] ?? ''));
    const entry: ChecksumPut = { path: url.pathname, partNumber: part ? Number(part) : undefined, claimed, actual: sha256(body), bytes: body.length, chunked, verdict: 'forwarded' };
    puts.push(entry);
    if (claimed !== undefined && !chunked && claimed !== entry.actual) {
      entry.verdict = 'BadDigest';
      return badDigest(res, url.pathname);
    }
    send(req, res, body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  // Answer 100-continue ourselves: the body has to be read here before S3 (the stand-in) can judge it.
  server.on('checkContinue', (req, res) => {
    res.writeContinue();
    handle(req, res).catch(() => res.destroy());
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, puts, requests, close: () => closeServer(server) };
}
