import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import fg from 'fast-glob';
import type { Problem } from '../errors.js';

export interface MatchedFile {
  relPath: string; // as matched, relative to the project dir, '/'-separated
  absPath: string; // real path (symlinks resolved), inside the project dir
}

/**
 * Expands one source's glob patterns inside the project dir. Anything that would read outside it —
 * '..', absolute patterns, symlinks pointing out — and directories or empty matches are problems, since
 * each is a job that would otherwise deploy something other than what its author meant.
 */
export async function matchFiles(patterns: string[], projectDir: string, source: string): Promise<{ files: MatchedFile[]; problems: Problem[] }> {
  const problems: Problem[] = [];
  const files: MatchedFile[] = [];
  const root = await realpath(projectDir);
  for (const pattern of patterns) {
    if (isAbsolute(pattern) || pattern.split(/[\\/]/).includes('..')) {
      problems.push({ variable: source, message: `pattern '${pattern}' reaches outside the project dir; use a path relative to ${projectDir} without '..'.` });
      continue;
    }
    const matches = (await fg(pattern, { cwd: projectDir, onlyFiles: false, followSymbolicLinks: true, unique: true, dot: false })).sort();
    if (matches.length === 0) {
      problems.push({ variable: source, message: `pattern '${pattern}' matches no file in ${projectDir}; check the path, or that the build job's artifacts reach this job (needs:/dependencies:).` });
      continue;
    }
    for (const relPath of matches) {
      const real = await realpath(`${projectDir}/${relPath}`).catch(() => undefined);
      if (real === undefined) {
        problems.push({ variable: source, message: `'${relPath}' is a broken symlink; point it at a package inside the project dir.` });
        continue;
      }
      const inside = relative(root, real);
      if (isAbsolute(inside) || inside.split(sep)[0] === '..') {
        problems.push({ variable: source, message: `'${relPath}' is a symlink to ${real}, outside the project dir; copy the package into the project instead.` });
        continue;
      }
      if ((await stat(real)).isDirectory()) {
        problems.push({ variable: source, message: `'${relPath}' is a directory; match the package files (e.g. '${relPath}/*.zip'), not their folder.` });
        continue;
      }
      files.push({ relPath, absPath: real });
    }
  }
  return { files, problems };
}

/** sha256 and size of a file, streamed so a large package is never held in memory. */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}
