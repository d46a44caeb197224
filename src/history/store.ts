import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { StorageSettings } from '../config/types.js';
import { RemoteError } from '../errors.js';
import { InvalidRecord } from '../record/schema.js';
import { s3Uri } from '../storage/client.js';
import { readDocument } from '../storage/documents.js';
import { isConflict, isNotFound, s3Failure } from '../storage/errors.js';
import { parseHistory } from './schema.js';
import type { DeploymentHistory, HistoryEntry } from './types.js';

export function historyKey(storage: StorageSettings, environment: string): string {
  return `${storage.prefix}/deployments/${environment}.history.json`;
}

const CONFLICT_ATTEMPTS = 8;

/** A history as read, with the ETag an append must match (none when there is no history yet). */
export interface HistoryVersion {
  history: DeploymentHistory;
  etag: string | undefined;
}

/** Next to the record: `<prefix>/deployments/<environment>.history.json`, written conditionally like the record. */
export class HistoryStore {
  constructor(
    private readonly s3: S3Client,
    private readonly storage: StorageSettings,
    private readonly projectPath: string,
    private readonly limit: number,
  ) {}

  uri(environment: string): string {
    return s3Uri(this.storage.bucket, historyKey(this.storage, environment));
  }

  async read(environment: string): Promise<DeploymentHistory> {
    return (await this.readVersion(environment)).history;
  }

  /**
   * The history as it is now, read ahead (a deploy reads it while it uploads, so appending at the end needs no
   * read); undefined when it cannot be read now, and then `append` reads it itself.
   */
  readAhead(environment: string): Promise<HistoryVersion | undefined> {
    return this.readVersion(environment).catch(() => undefined);
  }

  /**
   * Adds an entry numbered after the newest (numbers are never reused) and keeps the newest `limit`. Another
   * job appending in between (412) makes it read again and renumber, so neither entry is lost; a version read
   * ahead (`readAhead`) is such an "earlier read" too.
   */
  async append(environment: string, entry: Omit<HistoryEntry, 'number'>, ahead?: Promise<HistoryVersion | undefined>): Promise<HistoryEntry> {
    for (let attempt = 1; ; attempt++) {
      const { history, etag } = (attempt === 1 ? await ahead : undefined) ?? (await this.readVersion(environment));
      const added: HistoryEntry = { number: (history.entries[0]?.number ?? 0) + 1, ...entry };
      const next: DeploymentHistory = { ...history, entries: [added, ...history.entries].slice(0, this.limit) };
      try {
        await this.s3.send(
          new PutObjectCommand({
            Bucket: this.storage.bucket,
            Key: historyKey(this.storage, environment),
            Body: `${JSON.stringify(next, null, 2)}\n`,
            ContentType: 'application/json',
            ...(etag ? { IfMatch: etag } : { IfNoneMatch: '*' }),
          }),
        );
        return added;
      } catch (err) {
        if (isConflict(err) && attempt < CONFLICT_ATTEMPTS) continue;
        throw s3Failure('PutObject', this.uri(environment), err);
      }
    }
  }

  /** A stopped environment leaves nothing behind: its packages become unreferenced, for prune to collect. */
  async remove(environment: string): Promise<void> {
    try {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.storage.bucket, Key: historyKey(this.storage, environment) }));
    } catch (err) {
      if (!isNotFound(err)) throw s3Failure('DeleteObject', this.uri(environment), err);
    }
  }

  private async readVersion(environment: string): Promise<HistoryVersion> {
    const empty: DeploymentHistory = { schema: 1, environment, project: this.projectPath, entries: [] };
    const stored = await readDocument(this.s3, this.storage.bucket, historyKey(this.storage, environment));
    if (!stored) return { history: empty, etag: undefined };
    const { text, etag } = stored;
    try {
      return { history: parseHistory(text, { environment, projectPath: this.projectPath }), etag };
    } catch (err) {
      if (err instanceof InvalidRecord) throw new RemoteError(`The deployment history ${this.uri(environment)} cannot be trusted: ${err.reason}; nothing was changed. Restore it from the bucket's versions, or remove it (the next deploy starts a new history).`);
      throw err;
    }
  }
}
