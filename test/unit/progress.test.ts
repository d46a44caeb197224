import { describe, expect, it } from 'vitest';
import { PROGRESS_INTERVAL_MS, PROGRESS_MIN_BYTES, uploadProgress, uploadSummary } from '../../src/storage/progress.js';

const MiB = 1024 * 1024;

// Pacing with a fake clock: what is printed depends on the time that passed, not on this machine's speed.
function reporter(total: number) {
  let t = 0;
  const lines: string[] = [];
  const onProgress = uploadProgress({ label: 'dist/big.zip', total, write: (l) => lines.push(l), now: () => t });
  return { lines, onProgress, advance: (ms: number) => (t += ms) };
}

describe('uploadProgress', () => {
  it('is silent for a small package', () => {
    expect(uploadProgress({ label: 'a.zip', total: PROGRESS_MIN_BYTES - 1, write: () => {} })).toBeUndefined();
  });

  it('prints bytes and percent at most once per interval, and nothing for the last byte (the completion line says it)', () => {
    const { lines, onProgress, advance } = reporter(143 * MiB);
    if (!onProgress) throw new Error('a large package gets a reporter');
    onProgress(8 * MiB); // at once: too soon
    advance(PROGRESS_INTERVAL_MS);
    onProgress(40 * MiB);
    advance(PROGRESS_INTERVAL_MS / 2);
    onProgress(48 * MiB); // too soon after the last line
    advance(PROGRESS_INTERVAL_MS / 2);
    onProgress(72 * MiB);
    advance(PROGRESS_INTERVAL_MS * 10);
    onProgress(143 * MiB);
    expect(lines).toEqual(['  uploading dist/big.zip: 40.0 MiB of 143.0 MiB (27%)', '  uploading dist/big.zip: 72.0 MiB of 143.0 MiB (50%)']);
  });
});

describe('uploadSummary', () => {
  it('gives size and time, and the rate once it means something', () => {
    expect(uploadSummary(256, 12.4)).toBe('256 B in 12 ms');
    expect(uploadSummary(143 * MiB, 7200)).toBe('143.0 MiB in 7.2 s, 19.9 MiB/s');
  });
});
