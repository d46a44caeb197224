import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { StorageSettings } from '../config/types.js';
import { RemoteError } from '../errors.js';
import { s3Uri } from '../storage/client.js';
import { isNotFound, s3Failure } from '../storage/errors.js';
import type { DeploymentRecord } from './types.js';

export function recordKey(storage: StorageSettings, environment: string): string {
  return `${storage.prefix}/deployments/${environment}.json`;
}

export class RecordStore {
  constructor(
    private readonly s3: S3Client,
    private readonly storage: StorageSettings,
  ) {}

  key(environment: string): string {
    return recordKey(this.storage, environment);
  }

  uri(environment: string): string {
    return s3Uri(this.storage.bucket, this.key(environment));
  }

  async read(environment: string): Promise<DeploymentRecord | undefined> {
    const key = this.key(environment);
    let text: string;
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.storage.bucket, Key: key }));
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw s3Failure('GetObject', this.uri(environment), err);
    }
    try {
      const record = JSON.parse(text) as DeploymentRecord;
      if (record.schema !== 1 || !Array.isArray(record.functions)) throw new Error('unknown schema');
      return record;
    } catch {
      throw new RemoteError(`The deployment record ${this.uri(environment)} is not a gestalt-deploy record; remove or restore it.`);
    }
  }

  async write(record: DeploymentRecord): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.storage.bucket,
          Key: this.key(record.environment),
          Body: `${JSON.stringify(record, null, 2)}\n`,
          ContentType: 'application/json',
        }),
      );
    } catch (err) {
      throw s3Failure('PutObject', this.uri(record.environment), err);
    }
  }

  async remove(environment: string): Promise<void> {
    try {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.storage.bucket, Key: this.key(environment) }));
    } catch (err) {
      throw s3Failure('DeleteObject', this.uri(environment), err);
    }
  }
}
