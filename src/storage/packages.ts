import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type HeadObjectCommandOutput,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FileDigest } from '../artifacts/files.js';
import type { AwsSettings, StorageSettings } from '../config/types.js';
import { mapLimit } from '../net/pool.js';
import { s3Uri } from './client.js';
import { isConflict, isNotFound, PackageChanged, s3Failure } from './errors.js';
import { ChunkPool, PieceBody } from './piece-body.js';

/** Parts sent at once, each over its own connection; each holds a few chunk buffers, not a whole part. */
const PARTS_IN_FLIGHT = 4;

/** The largest package sent create-only without a HEAD first: sending 1 MiB in vain costs about one round trip. */
export const CREATE_ONLY_MAX_BYTES = 1024 * 1024;

/** Content-addressed: the same bytes always land on the same key, so nothing is uploaded twice. */
export function packageKey(storage: StorageSettings, sha256: string, file: string): string {
  return `${storage.prefix}/packages/${sha256}/${file}`;
}

export type PackageState = 'present' | 'absent';

/** What is known of a package's bytes: from hashing it, or (sha256 and size only) from a deployment record. */
export type KnownDigest = Pick<FileDigest, 'sha256' | 'size'> & Partial<Pick<FileDigest, 'partSha256'>>;

/** A package on disk with the digest its key was computed from. */
export type LocalPackage = FileDigest & { absPath: string; relPath: string };

const base64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

/** S3's checksum of a multipart object: the SHA-256 of the parts' SHA-256 digests, followed by -<parts>. */
export function compositeChecksum(partSha256: string[]): string {
  return `${createHash('sha256').update(Buffer.concat(partSha256.map((h) => Buffer.from(h, 'hex')))).digest('base64')}-${partSha256.length}`;
}

/**
 * Whether a stored object holds the bytes of `digest`. The stored SHA-256 checksum decides: S3 computed it from
 * the bytes it received. An object with another checksum came from an upload that did not send ours (an older
 * runner, another tool): its metadata is only a claim, so it is uploaded again. A store that keeps no checksums
 * at all leaves only the metadata to go by.
 */
export function holdsBytes(head: Pick<HeadObjectCommandOutput, 'ContentLength' | 'ChecksumSHA256' | 'ChecksumCRC32' | 'ChecksumCRC32C' | 'ChecksumSHA1' | 'ChecksumCRC64NVME' | 'Metadata'>, digest: KnownDigest): boolean {
  if (head.ContentLength !== digest.size) return false;
  const stored = head.ChecksumSHA256;
  if (stored) {
    if (stored === base64(digest.sha256)) return true;
    if (!digest.partSha256 || digest.partSha256.length < 2) return false;
    // Some stores (moto) leave out the -<parts> suffix.
    const composite = compositeChecksum(digest.partSha256);
    return stored === composite || stored === composite.replace(/-\d+$/, '');
  }
  if (head.ChecksumCRC32 || head.ChecksumCRC32C || head.ChecksumSHA1 || head.ChecksumCRC64NVME) return false;
  return head.Metadata?.sha256 === digest.sha256;
}

export class PackageStore {
  constructor(
    private readonly s3: S3Client,
    private readonly storage: StorageSettings,
    private readonly aws: AwsSettings,
  ) {}

  async state(key: string, digest: KnownDigest): Promise<PackageState> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.storage.bucket, Key: key, ChecksumMode: 'ENABLED' }));
      // Other bytes under our key (an interrupted, foreign or unverified write): upload again.
      return holdsBytes(head, digest) ? 'present' : 'absent';
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

  /**
   * Uploads exactly the bytes that were hashed, or nothing. Each piece (the whole package, or one part) is read
   * from the file while it is sent, checked on the way against its hash from hashing time, and sent with that
   * SHA-256 as its S3 checksum: S3 refuses bytes that differ, and a file rewritten since hashing never completes
   * a PUT (see piece-body.ts). `onProgress` hears the bytes stored so far after each part of a multipart upload.
   */
  async upload(key: string, pkg: LocalPackage, onProgress?: (loaded: number) => void): Promise<void> {
    await this.withPieces(key, pkg, async (pieces) => {
      if (pkg.partSha256.length <= 1) await this.putWhole(key, pkg, pieces, false);
      else await this.putParts(key, pkg, pieces, onProgress);
    });
  }

  /**
   * A small package not known to be in S3: one create-only PUT (`If-None-Match: *`) instead of a HEAD and then
   * a PUT. 'exists' when something is already under the key (S3 answers 412 and keeps it): the caller then
   * checks its bytes as usual. A store that ignores the condition overwrites the object with the same bytes,
   * since the key is their content address. Only for packages up to CREATE_ONLY_MAX_BYTES, so bytes sent in
   * vain for a package that was there after all cost about one round trip.
   */
  createIfAbsent(key: string, pkg: LocalPackage): Promise<'uploaded' | 'exists'> {
    return this.withPieces(key, pkg, (pieces) => this.putWhole(key, pkg, pieces, true));
  }

  /** The package's file open for the length of `body`, read as checked pieces. */
  private async withPieces<T>(key: string, pkg: LocalPackage, body: (pieces: PieceReader) => Promise<T>): Promise<T> {
    const file = await open(pkg.absPath);
    try {
      return await body(new PieceReader(file, pkg, key));
    } finally {
      await file.close();
    }
  }

  private objectParams(key: string, pkg: LocalPackage) {
    return {
      Bucket: this.storage.bucket,
      Key: key,
      ContentType: key.endsWith('.zip') ? 'application/zip' : 'application/octet-stream',
      Metadata: { sha256: pkg.sha256 },
      ACL: this.storage.access === 'public' ? ('public-read' as const) : undefined,
    };
  }

  /** One PUT of the whole package; `createOnly`: only if nothing is under the key yet ('exists' when S3 says 412). */
  private async putWhole(key: string, pkg: LocalPackage, pieces: PieceReader, createOnly: boolean): Promise<'uploaded' | 'exists'> {
    try {
      await this.s3.send(new PutObjectCommand({ ...this.objectParams(key, pkg), ...pieces.body(0), ChecksumAlgorithm: 'SHA256', ChecksumSHA256: base64(pkg.sha256), ...(createOnly ? { IfNoneMatch: '*' } : {}) }));
      return 'uploaded';
    } catch (err) {
      if (createOnly && isConflict(err)) return 'exists';
      throw s3Failure('PutObject', s3Uri(this.storage.bucket, key), err);
    }
  }

  private async putParts(key: string, pkg: LocalPackage, pieces: PieceReader, onProgress?: (loaded: number) => void): Promise<void> {
    const uri = s3Uri(this.storage.bucket, key);
    let uploadId: string | undefined;
    try {
      uploadId = (await this.s3.send(new CreateMultipartUploadCommand({ ...this.objectParams(key, pkg), ChecksumAlgorithm: 'SHA256' }))).UploadId;
    } catch (err) {
      throw s3Failure('CreateMultipartUpload', uri, err);
    }
    let call = 'UploadPart';
    let loaded = 0;
    try {
      const parts = await mapLimit(pkg.partSha256, PARTS_IN_FLIGHT, async (partHex, index): Promise<CompletedPart> => {
        const ChecksumSHA256 = base64(partHex);
        const body = pieces.body(index);
        const out = await this.s3.send(new UploadPartCommand({ Bucket: this.storage.bucket, Key: key, UploadId: uploadId, PartNumber: index + 1, ...body, ChecksumAlgorithm: 'SHA256', ChecksumSHA256 }));
        loaded += body.ContentLength;
        onProgress?.(loaded);
        return { PartNumber: index + 1, ETag: out.ETag, ChecksumSHA256 };
      });
      call = 'CompleteMultipartUpload';
      await this.s3.send(new CompleteMultipartUploadCommand({ Bucket: this.storage.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      // Leave no parts behind; an abort that fails too changes nothing about what the user must hear.
      await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.storage.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      throw s3Failure(call, uri, err);
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

/** The pieces of one open package as request bodies, sharing one pool of chunk buffers. */
class PieceReader {
  private readonly pool = new ChunkPool();
  constructor(
    private readonly file: FileHandle,
    private readonly pkg: LocalPackage,
    private readonly key: string,
  ) {}

  /** Piece `index` as it will be on disk when sent; it fails with PackageChanged if it differs from hashing time. */
  body(index: number): { Body: NonNullable<PutObjectCommandInput['Body']>; ContentLength: number } {
    const { pkg, key } = this;
    const offset = index * pkg.partSize;
    const length = Math.min(pkg.partSize, pkg.size - offset);
    const sha256 = pkg.partSha256[index] as string;
    const changed = (shorter: boolean) => {
      if (shorter) return new PackageChanged(pkg.relPath, key, `it is shorter than the ${pkg.size} bytes hashed`);
      const where = pkg.partSha256.length > 1 ? `part ${index + 1} of ${pkg.partSha256.length} no longer has` : 'its bytes no longer have';
      return new PackageChanged(pkg.relPath, key, `${where} sha256 ${sha256.slice(0, 12)}…`);
    };
    // The SDK's types name the bodies it knows; this one only the S3 client's handler opens (ReopenableBody).
    const body = new PieceBody({ file: this.file, offset, length, sha256, changed }, this.pool);
    return { Body: body as unknown as NonNullable<PutObjectCommandInput['Body']>, ContentLength: length };
  }
}
