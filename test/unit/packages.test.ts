// Package keys, the plain object URL Gestalt fetches a package from (private/public access modes), and the
// check that decides whether a stored object already holds a package's bytes.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compositeChecksum, holdsBytes, objectUrl, packageKey } from '../../src/storage/packages.js';
import type { AwsSettings, StorageSettings } from '../../src/config/types.js';

const SHA = 'a'.repeat(64);
const aws = (over: Partial<AwsSettings> = {}): AwsSettings => ({ region: 'eu-west-1', sessionName: 's', durationSeconds: 3600, roleChain: [], ...over });
const storage = (over: Partial<StorageSettings> = {}): StorageSettings => ({
  bucket: 'acme-packages', prefix: 'acme/lambdas', forcePathStyle: false, access: 'private', presignSeconds: 3600, ...over,
});

describe('packageKey', () => {
  it('is <prefix>/packages/<sha256>/<file name>', () => {
    expect(packageKey(storage(), SHA, 'hello.zip')).toBe(`acme/lambdas/packages/${SHA}/hello.zip`);
  });

  it('depends only on prefix, content and file name (not the branch)', () => {
    const s = storage({ prefix: 'team' });
    expect(packageKey(s, SHA, 'a.zip')).toBe(packageKey(s, SHA, 'a.zip'));
    expect(packageKey(s, 'b'.repeat(64), 'a.zip')).not.toBe(packageKey(s, SHA, 'a.zip'));
  });
});

describe('objectUrl on AWS', () => {
  const key = `acme/lambdas/packages/${SHA}/hello.zip`;

  it('uses virtual-hosted style with the regional host', () => {
    expect(objectUrl(aws(), storage(), key)).toBe(`https://acme-packages.s3.eu-west-1.amazonaws.com/${key}`);
  });

  it('uses the global host for us-east-1', () => {
    expect(objectUrl(aws({ region: 'us-east-1' }), storage(), key)).toBe(`https://acme-packages.s3.amazonaws.com/${key}`);
  });

  it('uses path style when asked', () => {
    expect(objectUrl(aws(), storage({ forcePathStyle: true }), key)).toBe(`https://s3.eu-west-1.amazonaws.com/acme-packages/${key}`);
  });

  it('uses path style for a bucket with dots (the wildcard certificate would not match)', () => {
    expect(objectUrl(aws(), storage({ bucket: 'packages.acme.com' }), key)).toBe(`https://s3.eu-west-1.amazonaws.com/packages.acme.com/${key}`);
  });

  it('encodes each key segment, keeping the slashes', () => {
    expect(objectUrl(aws(), storage(), 'my project/packages/x/hällo wörld+1#?.zip')).toBe(
      'https://acme-packages.s3.eu-west-1.amazonaws.com/my%20project/packages/x/h%C3%A4llo%20w%C3%B6rld%2B1%23%3F.zip',
    );
  });

  // Regression: the host is always <…>.amazonaws.com, but China regions (which the region
  // check and the role-ARN partition handling accept) are served from amazonaws.com.cn; the AWS SDK's own URL for
  // the same object is https://acme-packages.s3.cn-north-1.amazonaws.com.cn/…
  it('uses the amazonaws.com.cn host for China regions', () => {
    expect(objectUrl(aws({ region: 'cn-north-1' }), storage(), 'k.zip')).toBe('https://acme-packages.s3.cn-north-1.amazonaws.com.cn/k.zip');
  });
});

describe('objectUrl with a custom endpoint', () => {
  it('path style: origin, endpoint path, bucket, key', () => {
    expect(objectUrl(aws({ s3Endpoint: 'http://127.0.0.1:9000' }), storage({ forcePathStyle: true }), 'a/b.zip')).toBe('http://127.0.0.1:9000/acme-packages/a/b.zip');
    expect(objectUrl(aws({ s3Endpoint: 'https://store.example.com/s3/' }), storage({ forcePathStyle: true }), 'a/b.zip')).toBe('https://store.example.com/s3/acme-packages/a/b.zip');
  });

  it('virtual style: bucket prepended to the endpoint host, port and path kept', () => {
    expect(objectUrl(aws({ s3Endpoint: 'https://store.example.com:8443/base' }), storage(), 'a/b.zip')).toBe('https://acme-packages.store.example.com:8443/base/a/b.zip');
  });

  it('encodes key segments there too', () => {
    expect(objectUrl(aws({ s3Endpoint: 'http://127.0.0.1:9000' }), storage({ forcePathStyle: true }), 'p/ä b.zip')).toBe('http://127.0.0.1:9000/acme-packages/p/%C3%A4%20b.zip');
  });

  // Regression: without S3_FORCE_PATH_STYLE an IP-address endpoint gets the bucket prepended
  // to the IP ("http://acme-packages.127.0.0.1:9000/…", which does not resolve). The AWS SDK falls back to path style
  // for IP endpoints, so uploads work while the package URL handed to Gestalt is unusable.
  it('uses path style for an IP-address endpoint, as the SDK does', () => {
    expect(objectUrl(aws({ s3Endpoint: 'http://127.0.0.1:9000' }), storage(), 'a/b.zip')).toBe('http://127.0.0.1:9000/acme-packages/a/b.zip');
  });

  // Regression: the AWS branch switches to path style for dotted buckets, the custom-endpoint
  // branch does not; over https "my.bucket.store.example.com" fails the certificate check. The SDK uses path style.
  it('uses path style for a dotted bucket on a custom https endpoint, as the SDK does', () => {
    expect(objectUrl(aws({ s3Endpoint: 'https://store.example.com' }), storage({ bucket: 'my.bucket' }), 'a/b.zip')).toBe('https://store.example.com/my.bucket/a/b.zip');
  });
});

describe('holdsBytes: is the stored object the hashed package?', () => {
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
  const whole = Buffer.from('package bytes');
  const digest = { sha256: sha(whole), size: whole.length };
  const parts = [sha('part one'), sha('part two'), sha('part 3')];

  it('yes when S3 kept the SHA-256 we sent (whole object)', () => {
    expect(holdsBytes({ ContentLength: whole.length, ChecksumSHA256: b64(digest.sha256) }, digest)).toBe(true);
  });

  it('yes for a multipart object whose composite checksum matches the part hashes, with or without the -N suffix', () => {
    const multipart = { sha256: 'f'.repeat(64), size: 30, partSha256: parts };
    const composite = createHash('sha256').update(Buffer.concat(parts.map((p) => Buffer.from(p, 'hex')))).digest('base64');
    expect(compositeChecksum(parts)).toBe(`${composite}-3`);
    expect(holdsBytes({ ContentLength: 30, ChecksumSHA256: `${composite}-3` }, multipart)).toBe(true);
    expect(holdsBytes({ ContentLength: 30, ChecksumSHA256: composite }, multipart)).toBe(true);
    expect(holdsBytes({ ContentLength: 30, ChecksumSHA256: `${composite}-2` }, multipart)).toBe(false);
    // Without the part hashes (a record knows only sha256 and size) a composite cannot be checked.
    expect(holdsBytes({ ContentLength: 30, ChecksumSHA256: `${composite}-3` }, { sha256: multipart.sha256, size: 30 })).toBe(false);
  });

  it('no when the size or the stored SHA-256 differs, whatever the metadata claims', () => {
    expect(holdsBytes({ ContentLength: whole.length + 1, ChecksumSHA256: b64(digest.sha256), Metadata: { sha256: digest.sha256 } }, digest)).toBe(false);
    expect(holdsBytes({ ContentLength: whole.length, ChecksumSHA256: b64(sha('other')), Metadata: { sha256: digest.sha256 } }, digest)).toBe(false);
  });

  it('no for an object with another algorithm\'s checksum: it came from an upload that did not send ours', () => {
    expect(holdsBytes({ ContentLength: whole.length, ChecksumCRC32: 'AAAAAA==', Metadata: { sha256: digest.sha256 } }, digest)).toBe(false);
    expect(holdsBytes({ ContentLength: whole.length, ChecksumCRC64NVME: 'AAAAAAAAAAA=', Metadata: { sha256: digest.sha256 } }, digest)).toBe(false);
  });

  it('by the metadata only when the store keeps no checksum at all', () => {
    expect(holdsBytes({ ContentLength: whole.length, Metadata: { sha256: digest.sha256 } }, digest)).toBe(true);
    expect(holdsBytes({ ContentLength: whole.length, Metadata: { sha256: sha('x') } }, digest)).toBe(false);
    expect(holdsBytes({ ContentLength: whole.length }, digest)).toBe(false);
  });
});
