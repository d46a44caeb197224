import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { s3Uri } from './client.js';
import { s3Failure } from './errors.js';

export interface ListedObject {
  key: string;
  lastModified: Date | undefined;
}

export interface Listing {
  objects: ListedObject[];
  /** More objects exist than the cap allowed to list. */
  capped: boolean;
}

/** S3's page size: ListObjectsV2 returns at most 1,000 keys per call, DeleteObjects takes at most 1,000. */
export const S3_PAGE = 1000;

/**
 * Every object under `prefix`, page by page (continuation tokens), up to `cap` objects: a bucket with millions
 * of keys must not make a job run for hours or hold them all in memory.
 */
export async function listObjects(s3: Pick<S3Client, 'send'>, bucket: string, prefix: string, cap: number): Promise<Listing> {
  const objects: ListedObject[] = [];
  let token: string | undefined;
  do {
    let out;
    try {
      out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: Math.min(S3_PAGE, cap - objects.length + 1), ContinuationToken: token }));
    } catch (err) {
      throw s3Failure('ListObjectsV2', s3Uri(bucket, prefix), err);
    }
    for (const o of out.Contents ?? []) if (o.Key) objects.push({ key: o.Key, lastModified: o.LastModified });
    if (objects.length > cap) return { objects: objects.slice(0, cap), capped: true };
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return { objects, capped: false };
}

export interface DeleteOutcome {
  deleted: string[];
  failed: { key: string; message: string }[];
}

/** Deletes `keys` in DeleteObjects calls of at most 1,000 keys; a key S3 refused is reported, not retried blindly. */
export async function deleteObjects(s3: Pick<S3Client, 'send'>, bucket: string, keys: string[]): Promise<DeleteOutcome> {
  const outcome: DeleteOutcome = { deleted: [], failed: [] };
  for (let i = 0; i < keys.length; i += S3_PAGE) {
    const batch = keys.slice(i, i + S3_PAGE);
    let out;
    try {
      out = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
    } catch (err) {
      throw s3Failure('DeleteObjects', s3Uri(bucket, batch[0] ?? ''), err);
    }
    const refused = new Map((out.Errors ?? []).map((e) => [e.Key ?? '', `${e.Code ?? 'error'}: ${e.Message ?? ''}`.trim()]));
    for (const key of batch) {
      const message = refused.get(key);
      if (message === undefined) outcome.deleted.push(key);
      else outcome.failed.push({ key, message });
    }
  }
  return outcome;
}
