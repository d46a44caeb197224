import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { StorageSettings } from '../config/types.js';
import { RemoteError } from '../errors.js';
import { mapLimit } from '../net/pool.js';
import { s3Uri } from '../storage/client.js';
import { isNotFound, s3Failure } from '../storage/errors.js';
import { listObjects } from '../storage/listing.js';

/** One object under `<prefix>/deployments/`: a record (`<env>.json`) or a history (`<env>.history.json`). */
export interface DeploymentDocument {
  kind: 'record' | 'history';
  environment: string;
  key: string;
  /** The parsed JSON, unvalidated: prune only reads what it names and when the record was updated. */
  document: unknown;
}

/** More deployment objects than this and prune refuses: it could not know every package still in use. */
export const DEPLOYMENTS_CAP = 20_000;

/**
 * Every record and history of every environment under S3_PREFIX. Any document that cannot be read as JSON
 * stops the run: a package it names might otherwise be deleted while still in use.
 */
export async function scanDeployments(s3: S3Client, storage: StorageSettings, concurrency: number, cap = DEPLOYMENTS_CAP): Promise<DeploymentDocument[]> {
  const prefix = `${storage.prefix}/deployments/`;
  const listing = await listObjects(s3, storage.bucket, prefix, cap);
  if (listing.capped) throw new RemoteError(`${s3Uri(storage.bucket, prefix)} holds more than ${cap} objects, more than prune reads; nothing was pruned. Remove stale records there (or split S3_PREFIX) and run prune again.`);
  const found = listing.objects.map((o) => o.key).filter((k) => k.endsWith('.json'));
  const read = await mapLimit(found, concurrency, async (key): Promise<DeploymentDocument | undefined> => {
    const history = key.endsWith('.history.json');
    const environment = key.slice(prefix.length, -(history ? '.history.json' : '.json').length);
    let text: string;
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: storage.bucket, Key: key }));
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      // Removed since the listing (a stop ran meanwhile): it names nothing any more.
      if (isNotFound(err)) return undefined;
      throw s3Failure('GetObject', s3Uri(storage.bucket, key), err);
    }
    try {
      return { kind: history ? 'history' : 'record', environment, key, document: JSON.parse(text) as unknown };
    } catch {
      throw new RemoteError(`${s3Uri(storage.bucket, key)} is not JSON, so prune cannot tell which packages it names; nothing was pruned. Restore it from the bucket's versions or remove it, then run prune again.`);
    }
  });
  return read.filter((d): d is DeploymentDocument => d !== undefined);
}

/** When a record says it was last written; undefined when it does not say (such a record is never stale). */
export function recordUpdatedAt(document: unknown): Date | undefined {
  const at = typeof document === 'object' && document !== null ? (document as { updatedAt?: unknown }).updatedAt : undefined;
  const time = typeof at === 'string' ? Date.parse(at) : NaN;
  return Number.isFinite(time) ? new Date(time) : undefined;
}
