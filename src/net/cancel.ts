// Cancellation, process-wide: GitLab cancels a job with SIGTERM (a user at a terminal with SIGINT). From the
// first signal no new remote write starts; calls already in flight get a short grace period, then are aborted,
// so the record and reports can still be written for what really happened.

export type CancelSignal = 'SIGTERM' | 'SIGINT';

/** Thrown where a write would have started after cancellation was requested. */
export class CancelledError extends Error {
  constructor(readonly signal: CancelSignal) {
    super(`cancelled by ${signal}; no further changes were started`);
    this.name = 'CancelledError';
  }
}

export const CANCEL_GRACE_MS = 3000;

class Cancellation {
  private requestedBy: CancelSignal | undefined;
  private readonly inFlight = new AbortController();

  /** Aborted once the grace period after the first signal has passed: in-flight calls stop waiting then. */
  get abortSignal(): AbortSignal {
    return this.inFlight.signal;
  }

  get signal(): CancelSignal | undefined {
    return this.requestedBy;
  }

  request(signal: CancelSignal, graceMs = CANCEL_GRACE_MS): void {
    if (this.requestedBy) return;
    this.requestedBy = signal;
    setTimeout(() => this.inFlight.abort(new CancelledError(signal)), graceMs).unref();
  }

  /** Call before every remote write: throws once cancellation was requested. */
  throwIfRequested(): void {
    if (this.requestedBy) throw new CancelledError(this.requestedBy);
  }
}

export const cancellation = new Cancellation();
