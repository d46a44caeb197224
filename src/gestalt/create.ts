import type { JobContext, TargetSettings } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { HttpClient } from '../net/http.js';
import type { RetryPolicy } from '../net/retry.js';
import { GatewayTarget } from './gateway/target.js';
import { MetaTarget } from './meta/target.js';
import type { GestaltTarget } from './types.js';

export function createTarget(settings: TargetSettings, job: JobContext, retry: RetryPolicy, http: HttpClient, log: Logger): GestaltTarget {
  return settings.mode === 'gateway' ? new GatewayTarget(settings, job, http, log) : new MetaTarget(settings, job, retry, http, log);
}
