// A package piece as a request body: read from the file while it is sent, every byte hashed on the way, the last
// chunk held back until the piece matches its hash from hashing time; chunk buffers reused once written.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHUNK_SIZE, ChunkPool, PieceBody, type Piece } from '../../src/storage/piece-body.js';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let dir: string;
let file: FileHandle | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'piece-body-'));
});
afterEach(async () => {
  await file?.close();
  file = undefined;
  await rm(dir, { recursive: true, force: true });
});

class Changed extends Error {}

async function pieceOf(content: Buffer, offset = 0, length = content.length, sha256 = hex(content.subarray(offset, offset + length))): Promise<Piece> {
  const path = join(dir, 'p.zip');
  await writeFile(path, content);
  file = await open(path);
  return { file, offset, length, sha256, changed: (shorter) => new Changed(shorter ? 'shorter' : 'other bytes') };
}

/**
 * A socket stand-in: takes each chunk, copies it, and calls back on a later tick as a socket does, or at once
 * (`eager`) so that every chunk handed to it is seen before anything could discard it.
 */
function sink(eager = false) {
  const received: Buffer[] = [];
  const backing = new Set<ArrayBufferLike>();
  let ended = false;
  const dest = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, done) {
      received.push(Buffer.from(chunk));
      backing.add(chunk.buffer);
      if (eager) done();
      else setImmediate(done);
    },
    final(done) {
      ended = true;
      done();
    },
  });
  const settled = new Promise<Error | undefined>((resolve) => {
    dest.on('finish', () => resolve(undefined));
    dest.on('error', (err) => resolve(err));
  });
  return { dest, received, backing, settled, ended: () => ended };
}

describe('PieceBody written by pipe (how the HTTP handler sends it)', () => {
  it('sends exactly the piece, reusing a handful of chunk buffers for all of it', async () => {
    const content = randomBytes(10 * CHUNK_SIZE + 123);
    const body = new PieceBody(await pieceOf(content, CHUNK_SIZE + 5, 8 * CHUNK_SIZE + 100), new ChunkPool());
    const s = sink();
    body.open().pipe(s.dest);
    expect(await s.settled).toBeUndefined();
    expect(Buffer.concat(s.received).equals(content.subarray(CHUNK_SIZE + 5, 9 * CHUNK_SIZE + 105))).toBe(true);
    expect(s.received.length).toBe(9);
    // One being written, one queued, one held back, one being read: never a buffer per chunk.
    expect(s.backing.size).toBeLessThanOrEqual(4);
  });

  it('can be opened again for another try, and yields the same bytes', async () => {
    const content = randomBytes(3 * CHUNK_SIZE + 1);
    const body = new PieceBody(await pieceOf(content), new ChunkPool());
    for (let i = 0; i < 2; i++) {
      const s = sink();
      body.open().pipe(s.dest);
      expect(await s.settled).toBeUndefined();
      expect(Buffer.concat(s.received).equals(content)).toBe(true);
    }
    expect(body.sha256).toBe(hex(content));
  });

  it('a piece that no longer has its hash never completes: the last chunk is withheld and the request destroyed', async () => {
    const content = randomBytes(3 * CHUNK_SIZE + 10);
    const piece = await pieceOf(content, 0, content.length, hex(Buffer.from('the bytes hashed back then')));
    const s = sink(true);
    new PieceBody(piece, new ChunkPool()).open().pipe(s.dest);
    const err = await s.settled;
    expect(err).toBeInstanceOf(Changed);
    expect(err?.message).toBe('other bytes');
    expect(s.ended()).toBe(false);
    expect(Buffer.concat(s.received).length).toBe(3 * CHUNK_SIZE);
  });

  it('a file shorter than the piece is a changed piece too', async () => {
    const content = randomBytes(CHUNK_SIZE + 10);
    const piece = await pieceOf(content, 0, content.length + 50, hex(content));
    const s = sink(true);
    new PieceBody(piece, new ChunkPool()).open().pipe(s.dest);
    expect((await s.settled)?.message).toBe('shorter');
    expect(s.ended()).toBe(false);
  });

  it('an empty piece ends at once', async () => {
    const s = sink();
    new PieceBody(await pieceOf(Buffer.alloc(0)), new ChunkPool()).open().pipe(s.dest);
    expect(await s.settled).toBeUndefined();
    expect(s.received).toEqual([]);
  });
});

describe('PieceBody read as a plain stream (any other consumer)', () => {
  it('yields the same checked bytes', async () => {
    const content = randomBytes(2 * CHUNK_SIZE + 7);
    const chunks: Buffer[] = [];
    for await (const chunk of new PieceBody(await pieceOf(content), new ChunkPool()).open()) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
  });

  it('fails before the last chunk when the piece changed', async () => {
    const content = randomBytes(2 * CHUNK_SIZE + 7);
    const piece = await pieceOf(content, 0, content.length, 'f'.repeat(64));
    const chunks: Buffer[] = [];
    const read = async () => {
      for await (const chunk of new PieceBody(piece, new ChunkPool()).open()) chunks.push(chunk as Buffer);
    };
    await expect(read()).rejects.toThrow('other bytes');
    expect(Buffer.concat(chunks).length).toBe(2 * CHUNK_SIZE);
  });
});
