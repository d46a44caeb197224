import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { awsErrorName, awsStatus } from '../net/aws-errors.js';
import { s3Uri } from './client.js';
import { s3Failure } from './errors.js';

// The small JSON documents kept next to the packages (deployment records, histories): read with their ETag,
// so a conditional write can replace exactly the version that was read.

export interface StoredText {
  text: string;
  etag: string | undefined;
}

/** The object's text and ETag; undefined only when the key does not exist (a missing bucket is a failure). */
export async function readDocument(s3: S3Client, bucket: string, key: string): Promise<StoredText | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { text: (await out.Body?.transformToString('utf8')) ?? '', etag: out.ETag };
  } catch (err) {
    if (isNoSuchKey(err)) return undefined;
    throw s3Failure('GetObject', s3Uri(bucket, key), err);
  }
}

function isNoSuchKey(err: unknown): boolean {
  const name = awsErrorName(err);
  if (name === 'NoSuchBucket') return false;
  return name === 'NoSuchKey' || awsStatus(err) === 404;
}
