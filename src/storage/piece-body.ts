import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import type { ReopenableBody } from '../net/aws-http.js';

// The body of one PUT of package bytes (a whole small package, or one part of a multipart upload), read from the
// file while it is sent instead of being loaded first: a part costs a few chunk buffers, not its whole size, and
// reading, hashing and encrypting overlap. Every byte is hashed on the way; the last chunk is held back until the
// piece's SHA-256 equals the one from hashing time, so bytes that changed since then never complete a PUT, even
// on a store that does not verify checksums (S3 refuses them anyway through ChecksumSHA256).

/** Bytes read from the file and written to the socket at a time. */
export const CHUNK_SIZE = 512 * 1024;
/** Chunks of one piece handed to the socket and not yet written by it: one on the wire, one queued behind it. */
const CHUNKS_QUEUED = 2;

/** One piece of a package on disk and what it was when hashed. */
export interface Piece {
  file: FileHandle;
  offset: number;
  length: number;
  /** Hex SHA-256 of the piece at hashing time. */
  sha256: string;
  /** The error for a piece that no longer matches: shorter on disk, or other bytes. */
  changed: (shorter: boolean) => Error;
}

/** Chunk buffers shared by the pieces of one upload, each reused once the socket has written it. */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  take(): Buffer {
    // Its own ArrayBuffer (never a slice of Node's shared pool), so a view of it gives the whole buffer back.
    return this.free.pop() ?? Buffer.allocUnsafeSlow(CHUNK_SIZE);
  }
  give(view: Buffer): void {
    this.free.push(Buffer.from(view.buffer, 0, CHUNK_SIZE));
  }
}

/**
 * A piece as a request body. The SDK retries a request only when its body is not a stream it already consumed,
 * so this is not one: the S3 client's handler opens a fresh stream for each try (see ReopenableBody).
 */
export class PieceBody implements ReopenableBody {
  constructor(
    private readonly piece: Piece,
    private readonly pool: ChunkPool,
  ) {}
  get sha256(): string {
    return this.piece.sha256;
  }
  open(): Readable {
    return new PieceStream(this.piece, this.pool);
  }
}

/**
 * The node HTTP handler pipes a stream body into the request; pipe() is where this stream writes itself, with a
 * callback per chunk, so a chunk's buffer goes back to the pool only once the socket is done with it. Read any
 * other way (read(), 'data'), it hands out fresh buffers instead, checked the same way.
 */
class PieceStream extends Readable {
  private chunks?: AsyncGenerator<Buffer>;

  constructor(
    private readonly piece: Piece,
    private readonly pool: ChunkPool,
  ) {
    super();
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T): T {
    const dest = destination as unknown as Writable;
    this.writeTo(dest).catch((err: unknown) => dest.destroy(err as Error));
    return destination;
  }

  override _read(): void {
    this.chunks ??= checkedChunks(this.piece, () => Buffer.allocUnsafe(CHUNK_SIZE));
    this.chunks.next().then(
      ({ value, done }) => this.push(done ? null : value),
      (err: unknown) => this.destroy(err as Error),
    );
  }

  private async writeTo(dest: Writable): Promise<void> {
    // Settles when the socket is done with a chunk: true once written, false when the request ended first.
    const queued: Promise<boolean>[] = [];
    let onClose = () => {};
    const closed = new Promise<boolean>((resolve) => (onClose = () => resolve(false)));
    dest.once('close', onClose);
    try {
      for await (const chunk of checkedChunks(this.piece, () => this.pool.take())) {
        if (queued.length >= CHUNKS_QUEUED && !(await Promise.race([queued.shift() as Promise<boolean>, closed]))) return;
        if (dest.destroyed) return;
        queued.push(
          new Promise<boolean>((resolve) =>
            dest.write(chunk, (err) => {
              // A chunk whose write failed may still be referenced somewhere: it is left to the collector.
              if (!err) this.pool.give(chunk);
              resolve(!err);
            }),
          ),
        );
      }
      if (!dest.destroyed) dest.end();
    } finally {
      dest.off('close', onClose);
    }
  }
}

/** The piece's chunks as the file holds them now; the last only once the whole piece hashed to piece.sha256. */
async function* checkedChunks(piece: Piece, take: () => Buffer): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let held: Buffer | undefined;
  for (let at = 0; at < piece.length; ) {
    const chunk = take().subarray(0, Math.min(CHUNK_SIZE, piece.length - at));
    if ((await readFully(piece.file, chunk, piece.offset + at)) < chunk.length) throw piece.changed(true);
    hash.update(chunk);
    at += chunk.length;
    if (held) yield held;
    held = chunk;
  }
  if (hash.digest('hex') !== piece.sha256) throw piece.changed(false);
  if (held) yield held;
}

/** Fills `into` from `position` on; fewer bytes only at the end of the file. */
async function readFully(file: FileHandle, into: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < into.length) {
    const { bytesRead } = await file.read(into, filled, into.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}
