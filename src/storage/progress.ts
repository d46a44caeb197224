import { formatBytes } from '../log/format.js';

// A long upload says how far it got, so a job log never sits silent for minutes; a small one says nothing
// until it is done. The clock is a parameter so the pacing is tested without waiting.

/** Packages below this size upload in a few seconds at worst: no progress lines. */
export const PROGRESS_MIN_BYTES = 16 * 1024 * 1024;
/** At most one progress line per this many milliseconds. */
export const PROGRESS_INTERVAL_MS = 3000;

export interface ProgressOptions {
  label: string;
  total: number;
  write: (line: string) => void;
  now?: () => number;
}

/** A listener for the bytes of a multipart upload stored so far, or undefined for a small package. */
export function uploadProgress({ label, total, write, now = () => performance.now() }: ProgressOptions): ((loaded: number) => void) | undefined {
  if (total < PROGRESS_MIN_BYTES) return undefined;
  let last = now();
  return (loaded) => {
    const t = now();
    if (t - last < PROGRESS_INTERVAL_MS || loaded >= total) return;
    last = t;
    write(`  uploading ${label}: ${formatBytes(loaded)} of ${formatBytes(total)} (${Math.floor((loaded / total) * 100)}%)`);
  };
}

/** "143.0 MiB in 7.2 s, 19.9 MiB/s": what the completion line says. */
export function uploadSummary(bytes: number, ms: number): string {
  if (ms < 1000) return `${formatBytes(bytes)} in ${Math.round(ms)} ms`;
  return `${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)} s, ${formatBytes(Math.round(bytes / (ms / 1000)))}/s`;
}
