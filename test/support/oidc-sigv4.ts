// Independent SigV4 (header form) verifier for the STS stand-in. Written from the AWS
// specification rather than reusing @smithy/signature-v4, so a signer bug is not mirrored.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface ParsedAuthorization {
  accessKeyId: string;
  date: string;      // yyyymmdd from the scope
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export type SigV4Failure = { code: string; status: number; message: string };

export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  if (!header) return undefined;
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(header.trim());
  if (!m?.[1]) return undefined;
  const parts = new Map<string, string>();
  for (const piece of m[1].split(',')) {
    const eq = piece.indexOf('=');
    if (eq > 0) parts.set(piece.slice(0, eq).trim(), piece.slice(eq + 1).trim());
  }
  const credential = parts.get('Credential')?.split('/');
  const signedHeaders = parts.get('SignedHeaders');
  const signature = parts.get('Signature');
  if (!credential || credential.length !== 5 || credential[4] !== 'aws4_request' || !signedHeaders || !signature) return undefined;
  const [accessKeyId, date, region, service] = credential as [string, string, string, string, string];
  return { accessKeyId, date, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

// RFC 3986 unreserved characters stay, everything else is %XX upper-case, as SigV4 requires.
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s.replace(/\+/g, '%20')); } catch { return s; }
}

function canonicalUri(rawPath: string): string {
  // Non-S3 services: segments of the decoded path are encoded once more (the "double" encoding).
  return rawPath.split('/').map((seg) => uriEncode(safeDecode(seg))).join('/') || '/';
}

function canonicalQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  return rawQuery.split('&').filter(Boolean).map((kv) => {
    const eq = kv.indexOf('=');
    const k = eq < 0 ? kv : kv.slice(0, eq);
    const v = eq < 0 ? '' : kv.slice(eq + 1);
    return [uriEncode(safeDecode(k)), uriEncode(safeDecode(v))] as const;
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
}

const sha256hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

export function verifySigV4(input: {
  method: string; url: string; headers: IncomingHttpHeaders; body: Buffer;
  auth: ParsedAuthorization; secretAccessKey: string; expectedService: string; now?: number;
}): SigV4Failure | undefined {
  const { auth, headers } = input;
  const mismatch = (message: string): SigV4Failure => ({ code: 'SignatureDoesNotMatch', status: 403, message });
  if (auth.service !== input.expectedService) {
    return mismatch(`Credential should be scoped to correct service: '${input.expectedService}'. `);
  }
  if (!auth.signedHeaders.includes('host')) return mismatch("'Host' must be a 'SignedHeader' in the AWS Authorization.");
  const amzDate = headers['x-amz-date'];
  if (typeof amzDate !== 'string' || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
    return { code: 'IncompleteSignature', status: 400, message: 'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.' };
  }
  if (amzDate.slice(0, 8) !== auth.date) {
    return mismatch(`Credential should be scoped to a valid region. Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
  }
  const signedAt = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const now = input.now ?? Date.now();
  if (Math.abs(now - signedAt) > 15 * 60_000) {
    return mismatch(`Signature expired: ${amzDate} is now earlier than ${new Date(now - 15 * 60_000).toISOString().replace(/[-:]|\.\d{3}/g, '')} (${new Date(now).toISOString().replace(/[-:]|\.\d{3}/g, '')} - 15 min.)`);
  }

  const qIndex = input.url.indexOf('?');
  const rawPath = qIndex < 0 ? input.url : input.url.slice(0, qIndex);
  const rawQuery = qIndex < 0 ? '' : input.url.slice(qIndex + 1);
  const canonicalHeaders = auth.signedHeaders.map((name) => {
    const v = headers[name];
    const value = Array.isArray(v) ? v.join(',') : (v ?? '');
    return `${name}:${value.trim().replace(/\s+/g, ' ')}\n`;
  }).join('');
  const canonicalRequest = [
    input.method,
    canonicalUri(rawPath),
    canonicalQuery(rawQuery),
    canonicalHeaders,
    auth.signedHeaders.join(';'),
    sha256hex(input.body),
  ].join('\n');
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${input.secretAccessKey}`, auth.date);
  const kSigning = hmac(hmac(hmac(kDate, auth.region), auth.service), 'aws4_request');
  const expected = Buffer.from(createHmac('sha256', kSigning).update(stringToSign).digest('hex'));
  const given = Buffer.from(auth.signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return mismatch('The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
  }
  return undefined;
}
