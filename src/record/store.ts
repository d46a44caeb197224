import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { StorageSettings } from '../config/types.js';
import { RemoteError } from '../errors.js';
import { s3Uri } from '../storage/client.js';
import { readDocument } from '../storage/documents.js';
import { isConflict, s3Failure } from '../storage/errors.js';
import { InvalidRecord, parseRecord, type RecordExpectation } from './schema.js';
import type { DeploymentRecord } from './types.js';

export function recordKey(storage: StorageSettings, environment: string): string {
  return `${storage.prefix}/deployments/${environment}.json`;
}

/** A record as read, with the ETag a conditional write must match; no record at all has no ETag. */
export interface RecordVersion {
  record: DeploymentRecord | undefined;
  etag: string | undefined;
}

/** How many times a write re-reads and re-applies its change after another job wrote first. */
const CONFLICT_ATTEMPTS = 8;

export class RecordStore {
  constructor(
    private readonly s3: S3Client,
    private readonly storage: StorageSettings,
    private readonly expect: RecordExpectation,
  ) {}

  key(environment: string): string {
    return recordKey(this.storage, environment);
  }

  uri(environment: string): string {
    return s3Uri(this.storage.bucket, this.key(environment));
  }

  /** Environments that have a record, from one bounded listing (at most 1,000 keys). */
  async environments(): Promise<string[]> {
    const prefix = `${this.storage.prefix}/deployments/`;
    try {
      const out = await this.s3.send(new ListObjectsV2Command({ Bucket: this.storage.bucket, Prefix: prefix, MaxKeys: 1000 }));
      return (out.Contents ?? []).map((o) => o.Key ?? '').filter((k) => k.endsWith('.json') && !k.endsWith('.history.json')).map((k) => k.slice(prefix.length, -'.json'.length));
    } catch (err) {
      throw s3Failure('ListObjectsV2', s3Uri(this.storage.bucket, prefix), err);
    }
  }

  async read(environment: string): Promise<DeploymentRecord | undefined> {
    return (await this.readVersion(environment)).record;
  }

  async readVersion(environment: string): Promise<RecordVersion> {
    const stored = await readDocument(this.s3, this.storage.bucket, this.key(environment));
    if (!stored) return { record: undefined, etag: undefined };
    const { text, etag } = stored;
    try {
      return { record: parseRecord(text, { ...this.expect, environment }), etag };
    } catch (err) {
      if (err instanceof InvalidRecord) {
        throw new RemoteError(`The deployment record ${this.uri(environment)} cannot be trusted: ${err.reason}; nothing was changed. Restore it from the bucket's versions, or remove it and clean up in Gestalt by hand.`);
      }
      throw err;
    }
  }

  /**
   * Read-modify-write with S3 conditional requests: `change` gets the record as it is now and returns the
   * record to store (undefined: remove it). When another job wrote in between (412), the record is read
   * again and `change` applied again, so neither job drops the other's entries.
   */
  async update(environment: string, change: (current: DeploymentRecord | undefined) => DeploymentRecord | undefined, known?: RecordVersion): Promise<DeploymentRecord | undefined> {
    return (await this.write(environment, change, known)).record;
  }

  /**
   * `update`, answering with the version now in S3: a caller writing again (the run's journal) passes it as
   * `known` and saves the read, and a 412 still catches any job that wrote in between. Without an ETag in
   * the store's answer the version is unknown, so the next write reads first.
   */
  async write(environment: string, change: (current: DeploymentRecord | undefined) => DeploymentRecord | undefined, known?: RecordVersion): Promise<RecordVersion | { record: DeploymentRecord | undefined; etag?: undefined; unknown: true }> {
    let version = known ?? (await this.readVersion(environment));
    for (let attempt = 1; ; attempt++) {
      const next = change(version.record);
      // Unchanged: the record stays byte for byte as it was.
      if (next === version.record) return version;
      try {
        if (next) {
          const etag = await this.put(next, version.etag);
          return etag ? { record: next, etag } : { record: next, unknown: true };
        }
        if (version.record) await this.delete(environment, version.etag);
        return { record: undefined, etag: undefined };
      } catch (err) {
        if (!isConflict(err) || attempt >= CONFLICT_ATTEMPTS) throw this.failure(next ? 'PutObject' : 'DeleteObject', environment, err);
        version = await this.readVersion(environment);
      }
    }
  }

  private async put(record: DeploymentRecord, etag: string | undefined): Promise<string | undefined> {
    const out = await this.s3.send(
      new PutObjectCommand({
        Bucket: this.storage.bucket,
        Key: this.key(record.environment),
        Body: `${JSON.stringify(record, null, 2)}\n`,
        ContentType: 'application/json',
        // No record yet: only create; a record: only replace the version that was read.
        ...(etag ? { IfMatch: etag } : { IfNoneMatch: '*' }),
      }),
    );
    return out.ETag;
  }

  private async delete(environment: string, etag: string | undefined): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.storage.bucket, Key: this.key(environment), ...(etag ? { IfMatch: etag } : {}) }));
  }

  private failure(call: string, environment: string, err: unknown): Error {
    if (isConflict(err)) return new RemoteError(`S3 ${call} ${this.uri(environment)} kept conflicting with other jobs writing the same record (${CONFLICT_ATTEMPTS} tries); rerun the job (the template's resource_group serialises jobs of one environment).`, { cause: err });
    return s3Failure(call, this.uri(environment), err);
  }
}

/**
 * Only a missing key means "never deployed". GetObject names the cause in its error body: NoSuchKey for the
 * key, NoSuchBucket for the bucket, both with status 404. A missing bucket is a failure: a mistyped
 * S3_BUCKET_NAME would otherwise make stop report "nothing to stop" and exit 0.
 */
