// Cancelling a run the way GitLab does: a signal sent to the runner at a chosen moment, decided by the state of
// a stand-in (e.g. "once Meta has seen its 12th request") rather than by wall time, so the moment is the same
// on a fast and on a loaded machine.
import type { ChildProcess } from 'node:child_process';

export interface SignalAt {
  /** Pass as runCli's onSpawn. */
  onSpawn(child: ChildProcess): void;
  /** Date.now() of each signal sent; empty when the run ended before the condition held. */
  readonly sentAt: number[];
  /** Date.now() when the child exited. */
  readonly exitedAt: number | undefined;
}

export interface SignalOptions {
  /** Send the same signal again this many ms after the first (a user pressing Ctrl-C twice). */
  againAfterMs?: number;
  pollMs?: number;
}

/** Sends `signal` to the child as soon as `when()` holds (checked every few ms while the child runs). */
export function signalWhen(when: () => boolean, signal: NodeJS.Signals, opts: SignalOptions = {}): SignalAt {
  const sentAt: number[] = [];
  const state: { exitedAt: number | undefined } = { exitedAt: undefined };
  return {
    sentAt,
    get exitedAt() {
      return state.exitedAt;
    },
    onSpawn(child) {
      const send = () => {
        if (state.exitedAt !== undefined) return;
        child.kill(signal);
        sentAt.push(Date.now());
      };
      const timer = setInterval(() => {
        if (!when()) return;
        clearInterval(timer);
        send();
        if (opts.againAfterMs !== undefined) setTimeout(send, opts.againAfterMs).unref();
      }, opts.pollMs ?? 2);
      child.once('exit', () => {
        state.exitedAt = Date.now();
        clearInterval(timer);
      });
    },
  };
}
