// Gestalt runs an archive package by the file its handler names inside it; a single file runs as itself.

const ARCHIVE_SUFFIXES = ['.zip', '.jar', '.tar.gz', '.tgz'] as const;

export function isArchive(file: string): boolean {
  const lower = file.toLowerCase();
  return ARCHIVE_SUFFIXES.some((s) => lower.endsWith(s));
}
