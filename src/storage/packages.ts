import { createReadStream } from 'node:fs';
import { GetObjectCommand, HeadObjectCommand, PutObjectAclCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { AwsSettings, StorageSettings } from '../config/types.js';
import { s3Uri } from './client.js';
import { isNotFound, s3Failure } from './errors.js';

const PART_SIZE = 8 * 1024 * 1024;

/** Content-addressed: the same bytes always land on the same key, so nothing is uploaded twice. */
export function packageKey(storage: StorageSettings, sha256: string, file: string): string {
  return `${storage.prefix}/packages/${sha256}/${file}`;
}

export type PackageState = 'present' | 'absent';

export class PackageStore {
  constructor(
    private readonly s3: S3Client,
    private readonly storage: StorageSettings,
    private readonly aws: AwsSettings,
  ) {}

  async state(key: string, size: number): Promise<PackageState> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.storage.bucket, Key: key }));
      // A size mismatch means an interrupted or foreign write under our key: upload again.
      return head.ContentLength === size ? 'present' : 'absent';
    } catch (err) {
      if (isNotFound(err)) return 'absent';
      throw s3Failure('HeadObject', s3Uri(this.storage.bucket, key), err);
    }
  }

  /**
   * Whether the object under a content address still holds those bytes, read from S3's answer alone (no
   * download): the sha256 the upload stored with it (metadata, or S3's SHA-256 checksum) and the size.
   * Undefined when it does; otherwise the reason, for a sentence.
   */
  async mismatch(key: string, sha256: string, size: number): Promise<string | undefined> {
    let head;
    try {
      head = await this.s3.send(new HeadObjectCommand({ Bucket: this.storage.bucket, Key: key, ChecksumMode: 'ENABLED' }));
    } catch (err) {
      if (isNotFound(err)) return 'is missing';
      throw s3Failure('HeadObject', s3Uri(this.storage.bucket, key), err);
    }
    const checksum = head.ChecksumSHA256 && !head.ChecksumSHA256.includes('-') ? Buffer.from(head.ChecksumSHA256, 'base64').toString('hex') : undefined;
    const stored = head.Metadata?.sha256 ?? checksum;
    if (!stored) return 'carries no sha256 (metadata or checksum) to prove its content';
    if (stored !== sha256) return `holds sha256 ${stored.slice(0, 12)}…, not ${sha256.slice(0, 12)}…`;
    if (head.ContentLength !== size) return `is ${head.ContentLength} bytes, not ${size}`;
    return undefined;
  }

  /** Streams the file; lib-storage switches to multipart above one part, never buffering the whole file. */
  async upload(key: string, path: string, sha256: string, onProgress?: (loaded: number) => void): Promise<void> {
    const upload = new Upload({
      client: this.s3,
      partSize: PART_SIZE,
      queueSize: 4,
      leavePartsOnError: false,
      params: {
        Bucket: this.storage.bucket,
        Key: key,
        Body: createReadStream(path),
        ContentType: key.endsWith('.zip') ? 'application/zip' : 'application/octet-stream',
        Metadata: { sha256 },
        ACL: this.storage.access === 'public' ? 'public-read' : undefined,
      },
    });
    if (onProgress) upload.on('httpUploadProgress', (p) => onProgress(p.loaded ?? 0));
    try {
      await upload.done();
    } catch (err) {
      throw s3Failure('PutObject', s3Uri(this.storage.bucket, key), err);
    }
  }

  /** An object uploaded earlier under another access mode still needs the public ACL. */
  async makePublic(key: string): Promise<void> {
    try {
      await this.s3.send(new PutObjectAclCommand({ Bucket: this.storage.bucket, Key: key, ACL: 'public-read' }));
    } catch (err) {
      throw s3Failure('PutObjectAcl', s3Uri(this.storage.bucket, key), err);
    }
  }

  /** The URL Gestalt fetches the package from, by GESTALT_PACKAGE_ACCESS. */
  async url(key: string): Promise<string> {
    if (this.storage.access === 'presigned') {
      return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.storage.bucket, Key: key }), { expiresIn: this.storage.presignSeconds });
    }
    return objectUrl(this.aws, this.storage, key);
  }
}

/** Plain object URL, honouring a custom endpoint and path-style addressing. */
export function objectUrl(aws: AwsSettings, storage: StorageSettings, key: string): string {
  const path = key.split('/').map(encodeURIComponent).join('/');
  // Path style wherever the SDK would use it too: asked for, an IP-address endpoint, or a dotted bucket
  // over https (its name would break the certificate's hostname match).
  const dotted = storage.bucket.includes('.');
  if (aws.s3Endpoint) {
    const endpoint = new URL(aws.s3Endpoint);
    const base = endpoint.pathname.replace(/\/+$/, '');
    const ip = /^\d+\.\d+\.\d+\.\d+$|^\[/.test(endpoint.hostname);
    if (storage.forcePathStyle || ip || (dotted && endpoint.protocol === 'https:')) return `${endpoint.origin}${base}/${storage.bucket}/${path}`;
    return `${endpoint.protocol}//${storage.bucket}.${endpoint.host}${base}/${path}`;
  }
  const suffix = aws.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  const host = aws.region === 'us-east-1' ? `s3.${suffix}` : `s3.${aws.region}.${suffix}`;
  if (storage.forcePathStyle || dotted) return `https://${host}/${storage.bucket}/${path}`;
  return `https://${storage.bucket}.${host}/${path}`;
}
