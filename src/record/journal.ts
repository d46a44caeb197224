import type { RecordStore, RecordVersion } from './store.js';
import type { DeploymentRecord, RecordedFunction } from './types.js';

/** Header fields a run stamps on the record (who wrote it last, and where the functions live). */
export type RecordHeader = Omit<DeploymentRecord, 'functions' | 'schema'>;

/** How the record tells entries apart: by lambda id, or by name where the mode has no ids (gateway). */
export const entryKey = (f: RecordedFunction): string => f.id ?? `name:${f.name}`;

/** How many times `end` re-applies this run's entries when reading back shows they were lost. */
const VERIFY_ROUNDS = 3;

/**
 * One run's entries in the environment's record. `begin` writes every function the run may create before
 * its first Gestalt write; `settle` records each outcome as it comes (writes coalesce, one in flight); `end`
 * waits for the last. Every write re-applies this run's entries onto the record as it is in S3 now, so two
 * jobs on one environment keep each other's entries, and an entry is dropped only when this run saw it at
 * the start and knows its resource is gone.
 */
export class RunJournal {
  private readonly entries = new Map<string, RecordedFunction>();
  /** The record's entries when this run started, with their state then. */
  private readonly seenAtStart: Map<string, RecordedFunction['state']>;
  private readonly touched = new Set<string>();
  private readonly dropped = new Set<string>();
  private writing: Promise<void> | undefined;
  private dirty = false;
  private lastError: unknown;
  /** A write of this run succeeded (begin, or a settle's). */
  private written = false;
  /** The record as this run last wrote or read it, with its ETag: the next write starts from it, not a read. */
  private known: RecordVersion | undefined;
  /** Whether the environment has a record in S3 as far as this run knows (its last successful write, or the start). */
  exists: boolean;

  constructor(
    private readonly store: RecordStore,
    private readonly header: RecordHeader,
    start: RecordVersion,
    private readonly mayExist: (id: string) => boolean,
  ) {
    this.seenAtStart = new Map((start.record?.functions ?? []).map((f) => [entryKey(f), f.state]));
    this.exists = start.record !== undefined;
    this.known = start;
  }

  async begin(pending: RecordedFunction[]): Promise<void> {
    for (const f of pending) this.put(f);
    const first = this.write();
    // The run's one write in flight: a settle, forget or end meanwhile waits for it, then writes what came in.
    this.writing = first.then(
      () => this.afterBegin(),
      () => this.afterBegin(),
    );
    await first;
  }

  private afterBegin(): Promise<void> | undefined {
    this.writing = undefined;
    if (this.dirty) return (this.writing = this.flush());
    return undefined;
  }

  settle(entry: RecordedFunction): void {
    this.put(entry);
    this.dirty = true;
    this.writing ??= this.flush();
  }

  /** A pending entry whose function never reached Gestalt: it is taken out of the record again. */
  forget(entry: RecordedFunction): void {
    this.entries.delete(entryKey(entry));
    this.dropped.add(entryKey(entry));
    this.dirty = true;
    this.writing ??= this.flush();
  }

  /** Waits for the record to hold every settled entry; throws the last write's failure, if any. */
  async end(): Promise<void> {
    for (let round = 1; ; round++) {
      await this.writing;
      // The last write holds every entry when nothing changed since it began and it succeeded: no write again.
      if (round > 1 || this.dirty || this.lastError !== undefined || !this.written) {
        this.dirty = true;
        this.writing ??= this.flush();
        await this.writing;
        if (this.lastError) throw this.lastError;
      }
      // Read back: a store that does not honour conditional writes atomically (some S3-compatible ones) can
      // let another job's write replace ours. Re-apply a few times; S3 itself never needs a second round.
      if (round >= VERIFY_ROUNDS) return;
      const stored = await this.store.readVersion(this.header.environment);
      this.known = stored;
      if (this.holdsMine(stored.record)) return;
    }
  }

  private holdsMine(record: DeploymentRecord | undefined): boolean {
    const stored = new Map((record?.functions ?? []).map((f) => [entryKey(f), f.state]));
    return [...this.entries.entries()].every(([key, f]) => stored.get(key) === f.state) && [...this.dropped].every((key) => !stored.has(key));
  }

  /** The record this run would leave, applied to `current`; undefined when it would list nothing (no record then). */
  apply(current: DeploymentRecord | undefined): DeploymentRecord | undefined {
    const mine = new Set(this.entries.keys());
    const kept = (current?.functions ?? []).filter((f) => {
      const key = entryKey(f);
      if (mine.has(key) || this.dropped.has(key)) return false;
      if (!this.touched.has(f.name)) return true;
      // Another entry of a name this run deploys: keep it unless this run saw it at the start and its
      // resource is known to be gone (a concurrent job's entry, or a duplicate that may exist, stays).
      if (!this.seenAtStart.has(key)) return true;
      // Pending at the start: another run's claim whose create may not have landed when this run looked, so
      // its absence from this run's lookups proves nothing. Only stop removes such an entry.
      if (this.seenAtStart.get(key) === 'pending') return true;
      return f.id !== undefined && this.mayExist(f.id);
    });
    if (kept.length === 0 && this.entries.size === 0) return undefined;
    return {
      schema: 2,
      ...this.header,
      updatedAt: new Date().toISOString(),
      functions: [...kept, ...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name) || entryKey(a).localeCompare(entryKey(b))),
    };
  }

  private put(entry: RecordedFunction): void {
    // An entry first known by name (gateway) or by a chosen id replaces the run's earlier entry of that key.
    for (const [key, f] of this.entries) if (f.name === entry.name && key !== entryKey(entry) && f.id === undefined) this.entries.delete(key);
    this.dropped.delete(entryKey(entry));
    this.entries.set(entryKey(entry), entry);
    this.touched.add(entry.name);
  }

  /** One conditional write from the version this run knows (a 412 makes the store read and re-apply). */
  private async write(): Promise<void> {
    try {
      const written = await this.store.write(this.header.environment, (current) => this.apply(current), this.known);
      this.known = 'unknown' in written ? undefined : written;
      this.exists = written.record !== undefined;
      this.written = true;
    } catch (err) {
      // Whatever is in S3 now is unknown: the next write reads it first.
      this.known = undefined;
      throw err;
    }
  }

  private async flush(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        try {
          await this.write();
          this.lastError = undefined;
        } catch (err) {
          this.lastError = err;
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}
