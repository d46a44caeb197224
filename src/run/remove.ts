import { errorMessage } from '../errors.js';
import { gestaltConcurrency, type GestaltSession } from '../gestalt/types.js';
import { cancellation } from '../net/cancel.js';
import { mapLimit } from '../net/pool.js';
import type { DeploymentRecord, RecordedFunction } from '../record/types.js';
import type { FunctionReport } from '../reports/types.js';
import type { RunContext } from './context.js';

/** One recorded function's removal: its report line, with `error` set when it was refused, failed or not started. */
export interface Removal {
  fn: RecordedFunction;
  line: FunctionReport;
}

/**
 * Removes recorded functions through the session, which proves each is this environment's before deleting
 * anything (stop, and rollback's functions the restored deployment lacks). None starts once the job is cancelled.
 */
export function removeRecorded({ config, log }: RunContext, session: GestaltSession, record: DeploymentRecord, functions: RecordedFunction[]): Promise<Removal[]> {
  return mapLimit(
    functions,
    gestaltConcurrency(config.concurrency),
    async (fn): Promise<Removal> => {
      try {
        const r = await session.remove(fn, record);
        log.info(`  ${fn.name}: ${r.outcome === 'removed' ? `removed (${r.endpoints} endpoint(s))` : 'already gone'}`);
        return { fn, line: { name: fn.name, file: fn.file, action: r.outcome, endpoint: `${r.endpoints} removed`, packageKey: fn.packageKey, sha256: fn.sha256, id: fn.id } };
      } catch (err) {
        log.error(errorMessage(err));
        return { fn, line: { name: fn.name, file: fn.file, action: 'failed', packageKey: fn.packageKey, id: fn.id, error: errorMessage(err) } };
      }
    },
    { shouldStop: () => cancellation.signal !== undefined, skipped: (fn) => ({ fn, line: { name: fn.name, file: fn.file, action: 'failed', id: fn.id, error: `not started: the job was cancelled (${cancellation.signal})` } }) },
  );
}
