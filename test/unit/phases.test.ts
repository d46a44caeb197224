// PhaseClock with overlapping bodies: the span is first start to last end, the sum adds every body's own time.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PhaseClock } from '../../src/run/phases.js';

describe('PhaseClock', () => {
  afterEach(() => vi.restoreAllMocks());

  it('records overlapping per-function times as a wall span and a sum, and each function its own time', async () => {
    let now = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const clock = new PhaseClock();
    const a: Record<string, number> = {};
    const b: Record<string, number> = {};
    let finishA!: () => void;
    let finishB!: () => void;
    const runA = clock.time('upload', a, () => new Promise<void>((r) => (finishA = r)));
    now = 10;
    const runB = clock.time('upload', b, () => new Promise<void>((r) => (finishB = r)));
    now = 40;
    finishA();
    await runA;
    now = 100;
    finishB();
    await runB;
    now = 130;
    await clock.time('deploy', a, async () => void (now = 150));
    const report: { timingsMs: Record<string, number>; phaseSumsMs?: Record<string, number> } = { timingsMs: { record: 5 } };
    clock.writeTo(report);
    expect(report.timingsMs).toEqual({ record: 5, upload: 100, deploy: 20 });
    expect(report.phaseSumsMs).toEqual({ upload: 40 + 90, deploy: 20 });
    expect(a).toEqual({ upload: 40, deploy: 20 });
    expect(b).toEqual({ upload: 90 });
  });

  it('adds nothing when no phase ran', () => {
    const report: { timingsMs: Record<string, number>; phaseSumsMs?: Record<string, number> } = { timingsMs: {} };
    new PhaseClock().writeTo(report);
    expect(report).toEqual({ timingsMs: {} });
  });
});
