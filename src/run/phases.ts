/**
 * Timings of phases that overlap: in the pipelined deploy one function uploads while another is written to
 * Gestalt, so a phase has two honest numbers. `timingsMs[phase]` is its wall span, from the first function
 * entering it to the last leaving it; `phaseSumsMs[phase]` adds up every function's own time in it (what the
 * phase would take one function after another). Each function's own times go on its report line.
 */
export class PhaseClock {
  private readonly spans = new Map<string, { start: number; end: number }>();
  private readonly sums = new Map<string, number>();

  async time<T>(phase: string, own: Record<string, number>, body: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const span = this.spans.get(phase) ?? { start, end: start };
    this.spans.set(phase, span);
    try {
      return await body();
    } finally {
      const end = performance.now();
      span.end = Math.max(span.end, end);
      this.sums.set(phase, (this.sums.get(phase) ?? 0) + end - start);
      own[phase] = Math.round((own[phase] ?? 0) + end - start);
    }
  }

  /** Adds the spans to `timingsMs` and the sums to `phaseSumsMs`, rounded to whole milliseconds. */
  writeTo(report: { timingsMs: Record<string, number>; phaseSumsMs?: Record<string, number> }): void {
    for (const [phase, { start, end }] of this.spans) report.timingsMs[phase] = Math.round((report.timingsMs[phase] ?? 0) + end - start);
    if (this.sums.size === 0) return;
    report.phaseSumsMs ??= {};
    for (const [phase, ms] of this.sums) report.phaseSumsMs[phase] = Math.round((report.phaseSumsMs[phase] ?? 0) + ms);
  }
}
