// An S3 that throws the bytes away, over HTTPS on 127.0.0.1: enough of S3's answers for PutObject and multipart
// uploads (CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload), so the bench sees what
// the uploading client costs, not what a store costs. HEAD answers 404 (nothing is ever stored). It counts what it
// received, including which requests carried an S3 SHA-256 checksum and which an unsigned payload.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DiscardS3 {
  endpoint: string;
  /** PEM of the server's self-signed certificate: give it to the client as NODE_EXTRA_CA_CERTS. */
  caFile: string;
  stats: { bytes: number; puts: number; putsWithChecksum: number; unsignedPayloads: number };
  reset(): void;
  close(): Promise<void>;
}

export async function startDiscardS3(): Promise<DiscardS3> {
  const dir = mkdtempSync(join(tmpdir(), 'discard-s3-'));
  const key = join(dir, 'key.pem');
  const caFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', caFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const stats = { bytes: 0, puts: 0, putsWithChecksum: 0, unsignedPayloads: 0 };
  let uploads = 0;
  const server = createServer({ key: readFileSync(key), cert: readFileSync(caFile) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    req.on('data', (chunk: Buffer) => (stats.bytes += chunk.length));
    req.on('end', () => {
      const xml = (body: string) => {
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
      };
      if (req.method === 'HEAD' || req.method === 'GET') {
        res.writeHead(404, { 'content-type': 'application/xml' });
        res.end(req.method === 'GET' ? '<Error><Code>NoSuchKey</Code><Message>discarded</Message></Error>' : undefined);
      } else if (req.method === 'POST' && url.searchParams.has('uploads')) {
        xml(`<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>upload-${++uploads}</UploadId></InitiateMultipartUploadResult>`);
      } else if (req.method === 'POST' && url.searchParams.has('uploadId')) {
        xml('<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"done"</ETag></CompleteMultipartUploadResult>');
      } else if (req.method === 'PUT') {
        stats.puts++;
        if (req.headers['x-amz-checksum-sha256']) stats.putsWithChecksum++;
        if (req.headers['x-amz-content-sha256'] === 'UNSIGNED-PAYLOAD') stats.unsignedPayloads++;
        res.writeHead(200, { etag: `"part-${stats.puts}"` });
        res.end();
      } else {
        res.writeHead(204);
        res.end();
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `https://127.0.0.1:${port}`,
    caFile,
    stats,
    reset: () => Object.assign(stats, { bytes: 0, puts: 0, putsWithChecksum: 0, unsignedPayloads: 0 }),
    close: async () => {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
