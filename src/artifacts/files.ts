import { createHash } from 'node:crypto';
import { lstat as lstatCb, realpath as realpathCb, stat as statCb, type Stats } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, sep } from 'node:path';
import fg from 'fast-glob';
import type { Problem } from '../errors.js';
import { escapeControl, hasControlChars } from '../log/printable.js';

export interface MatchedFile {
  relPath: string; // as matched, relative to the project dir, '/'-separated
  absPath: string; // real path (symlinks resolved), inside the project dir
}

/** Per pattern, this many matches with a problem are listed; the rest are counted. */
export const MAX_PROBLEMS_PER_PATTERN = 10;
/** Deeper than any build output; a bound on the walk whatever the links. */
const MAX_DEPTH = 64;

/** How messages show a name from disk: quoted, control characters escaped so it cannot forge a log line. */
export const shown = (name: string): string => `'${escapeControl(name)}'`;

/**
 * Expands one source's glob patterns inside the project dir. Anything that would read outside it —
 * '..', absolute patterns, symlinks pointing out — and directories, empty matches and names with control
 * characters are problems, since each is a job that would otherwise deploy something other than what its
 * author meant. The walk itself follows a directory symlink only into the project and never back into a
 * directory it is already inside, so a link loop ends the walk instead of hanging it.
 */
export async function matchFiles(patterns: string[], projectDir: string, source: string): Promise<{ files: MatchedFile[]; problems: Problem[] }> {
  const problems: Problem[] = [];
  const files: MatchedFile[] = [];
  const root = await realpath(projectDir);
  for (const pattern of patterns) {
    if (isAbsolute(pattern) || pattern.split(/[\\/]/).includes('..')) {
      problems.push({ variable: source, message: `pattern ${shown(pattern)} reaches outside the project dir; use a path relative to ${projectDir} without '..'.` });
      continue;
    }
    const refused = new Map<string, string>();
    const matches = (await fg(pattern, { cwd: projectDir, onlyFiles: false, followSymbolicLinks: true, unique: true, dot: false, deep: MAX_DEPTH, fs: { stat: guardedStat(root, refused) } })).sort();
    if (matches.length === 0) {
      problems.push({ variable: source, message: `pattern ${shown(pattern)} matches no file in ${projectDir}; check the path, or that the build job's artifacts reach this job (needs:/dependencies:).` });
      continue;
    }
    const found: string[] = [];
    for (const relPath of matches) {
      const problem = await check(relPath, projectDir, root, refused);
      if (typeof problem === 'string') found.push(problem);
      else files.push(problem);
    }
    for (const message of found.slice(0, MAX_PROBLEMS_PER_PATTERN)) problems.push({ variable: source, message });
    if (found.length > MAX_PROBLEMS_PER_PATTERN) {
      problems.push({ variable: source, message: `… and ${found.length - MAX_PROBLEMS_PER_PATTERN} more match(es) of ${shown(pattern)} with problems, not listed; narrow the pattern to the package files.` });
    }
  }
  return { files, problems };
}

/** The matched file, or the sentence saying why it cannot be a package. */
async function check(relPath: string, projectDir: string, root: string, refused: Map<string, string>): Promise<MatchedFile | string> {
  if (hasControlChars(relPath)) {
    return `file name ${shown(relPath)} contains control characters, which would garble the job log and reports; rename the file.`;
  }
  const why = refused.get(`${projectDir}/${relPath}`.replace(/\/+/g, '/'));
  if (why) return `${shown(relPath)} is a symlink ${why}`;
  const real = await realpath(`${projectDir}/${relPath}`).catch(() => undefined);
  if (real === undefined) return `${shown(relPath)} is a broken symlink; point it at a package inside the project dir.`;
  if (!inside(root, real)) return `${shown(relPath)} is a symlink to ${escapeControl(real)}, outside the project dir; copy the package into the project instead.`;
  if ((await stat(real)).isDirectory()) return `${shown(relPath)} is a directory; match the package files (e.g. ${shown(`${relPath}/*.zip`)}), not their folder.`;
  return { relPath, absPath: real };
}

function inside(root: string, real: string): boolean {
  const rel = relative(root, real);
  return !isAbsolute(rel) && rel.split(sep)[0] !== '..';
}

type StatCallback = (error: NodeJS.ErrnoException | null, stats: Stats) => void;

/**
 * fast-glob asks `stat` about every symlink it meets while walking. Refusing keeps the link as a plain entry
 * instead of a directory to descend into: done for links that leave the project, and for links back to a
 * directory the walk is already inside — the loop case.
 */
function guardedStat(root: string, refused: Map<string, string>): (path: string, done: StatCallback) => void {
  const realOf = new Map<string, Promise<string | undefined>>();
  const realDir = (dir: string) => {
    let known = realOf.get(dir);
    if (!known) {
      known = realpath(dir).catch(() => undefined);
      realOf.set(dir, known);
    }
    return known;
  };
  /** The real directories the walk went through to reach `path`: every ancestor up to the project dir. */
  const chain = async (path: string): Promise<string[]> => {
    const dirs: string[] = [];
    for (let dir = dirname(path); ; dir = dirname(dir)) {
      const real = await realDir(dir);
      if (real) dirs.push(real);
      if (real === root || dirname(dir) === dir) break;
    }
    return dirs;
  };
  // Answering with the link's own lstat makes it a plain entry: still matched and reported, never descended.
  const refuse = (path: string, why: string, done: StatCallback) => {
    refused.set(path, why);
    lstatCb(path, done);
  };
  return (path, done) => {
    realpathCb(path, (err, real) => {
      if (err) return statCb(path, done);
      statCb(real, (statErr, stats) => {
        // Files are never walked into; whether one may be a package is checked after the walk.
        if (statErr || !stats.isDirectory()) return done(statErr, stats);
        if (!inside(root, real)) return refuse(path, `to the directory ${escapeControl(real)}, outside the project dir, and was not followed; copy the packages into the project instead.`, done);
        chain(path).then(
          (dirs) => {
            const ancestor = dirs.find((d) => d === real || inside(real, d));
            const back = real === root ? 'the project dir' : shown(relative(root, real));
            if (ancestor) refuse(path, `back to ${back}, which contains it: a loop, not followed; remove the link or narrow the pattern.`, done);
            else done(null, stats);
          },
          (chainErr: NodeJS.ErrnoException) => done(chainErr, stats),
        );
      });
    });
  };
}

/** Bytes per piece the package is hashed in, as multipart uploads send it: S3 checks each piece on arrival. */
export const PART_SIZE = 8 * 1024 * 1024;

/** What a package's bytes were when it was hashed: the whole SHA-256, and one per PART_SIZE piece. */
export interface FileDigest {
  sha256: string; // hex, of the whole file: the content address
  size: number;
  partSize: number;
  partSha256: string[]; // hex, one per piece; a single piece for files up to partSize
}

/** Bytes hashed per read: one buffer, reused, so hashing a large package allocates nothing per chunk. */
const HASH_READ_BYTES = 1 << 20;

/** sha256, size and per-piece sha256 of a file, in one pass over one reused buffer: never held in memory. */
export async function hashFile(path: string, partSize = PART_SIZE): Promise<FileDigest> {
  const whole = createHash('sha256');
  const partSha256: string[] = [];
  let part = createHash('sha256');
  let inPart = 0;
  let size = 0;
  const buffer = Buffer.allocUnsafeSlow(HASH_READ_BYTES);
  const file = await open(path);
  try {
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      const bytes = buffer.subarray(0, bytesRead);
      whole.update(bytes);
      size += bytesRead;
      for (let at = 0; at < bytes.length; ) {
        const take = Math.min(partSize - inPart, bytes.length - at);
        part.update(bytes.subarray(at, at + take));
        inPart += take;
        at += take;
        if (inPart === partSize) {
          partSha256.push(part.digest('hex'));
          part = createHash('sha256');
          inPart = 0;
        }
      }
    }
  } finally {
    await file.close();
  }
  if (inPart > 0 || partSha256.length === 0) partSha256.push(part.digest('hex'));
  return { sha256: whole.digest('hex'), size, partSize, partSha256 };
}
