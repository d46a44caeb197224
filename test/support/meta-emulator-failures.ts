// Failure injection for the Meta emulator: decides, per request in arrival order, whether a fault applies.
import { seededRandom } from './prng.js';

export interface FailureSpec {
  /** status: answer `status` (default 503) with a Meta error body; reset: destroy the socket; timeout: never answer. */
  kind: 'status' | 'reset' | 'timeout';
  status?: number;
  /** First N matching requests (default 1). With `fraction`, an optional cap on how many are failed. */
  count?: number;
  /** Fail this fraction of matching requests, drawn from a PRNG seeded with `seed` so runs repeat exactly. */
  fraction?: number;
  seed?: number;
  match?: (req: { method: string; path: string }) => boolean;
  /** Run the handler (state changes) first, then fail: models "Meta stored it but the answer never arrived". */
  afterHandling?: boolean;
}

interface Armed {
  spec: FailureSpec;
  remaining: number;
  random: () => number;
}

export class FailurePlan {
  private armed: Armed[] = [];

  add(spec: FailureSpec): void {
    const remaining = spec.count ?? (spec.fraction !== undefined ? Infinity : 1);
    this.armed.push({ spec: { ...spec }, remaining, random: seededRandom(spec.seed ?? 1) });
  }

  clear(): void {
    this.armed = [];
  }

  /** The first armed failure that fires for this request, consuming one of its uses; specs are tried in order. */
  pick(req: { method: string; path: string }): FailureSpec | undefined {
    for (const a of this.armed) {
      if (a.remaining <= 0) continue;
      if (a.spec.match && !a.spec.match(req)) continue;
      // Draw for every matching request so the sequence of outcomes depends only on the seed and request order.
      if (a.spec.fraction !== undefined && a.random() >= a.spec.fraction) continue;
      a.remaining -= 1;
      return a.spec;
    }
    return undefined;
  }
}
