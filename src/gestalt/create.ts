import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { HttpClient } from '../net/http.js';
import { GatewayTarget } from './gateway/target.js';
import { MetaTarget } from './meta/target.js';
import type { GestaltTarget } from './types.js';

export function createTarget(config: Config, http: HttpClient, log: Logger): GestaltTarget {
  return config.target.mode === 'gateway' ? new GatewayTarget(config.target, config, http, log) : new MetaTarget(config.target, config, http, log);
}
