import type { Config, MetaSettings } from '../../config/types.js';
import { RemoteError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { HttpClient } from '../../net/http.js';
import type { RecordedFunction } from '../../record/types.js';
import type { DeployResult, GestaltTarget, PlanResult, RemoveResult } from '../types.js';

/** Direct Gestalt Meta API mode (issue 4). */
export class MetaTarget implements GestaltTarget {
  readonly mode = 'meta' as const;
  readonly label: string;
  constructor(
    settings: MetaSettings,
    _config: Config,
    _http: HttpClient,
    _log: Logger,
  ) {
    this.label = `Gestalt Meta at ${settings.url} (org ${settings.org})`;
  }
  async prepare(): Promise<void> {
    throw new RemoteError('meta mode is not available in this build; use CI_URL (gateway mode).');
  }
  async plan(): Promise<PlanResult> {
    throw new RemoteError('meta mode is not available in this build.');
  }
  async deploy(): Promise<DeployResult> {
    throw new RemoteError('meta mode is not available in this build.');
  }
  async remove(): Promise<RemoveResult> {
    throw new RemoteError('meta mode is not available in this build.');
  }
  async discover(): Promise<RecordedFunction[]> {
    return [];
  }
  async probe(): Promise<string> {
    return 'not checked';
  }
}
