import { hashFunctions, type PackagedFunction } from '../artifacts/functions.js';
import type { Config } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { formatBytes } from '../log/format.js';
import { resolveLocal } from './validate.js';

/** Local only: expands, validates and hashes the packages, so a bad pattern fails before any remote call. */
export async function collectFunctions(config: Config, env: Record<string, string | undefined>, log: Logger): Promise<PackagedFunction[]> {
  return log.section('artifacts', 'Function packages', async () => {
    // main validated this already; matching again is cheap, and keeps this stage whole on its own.
    const { functions, problems } = await resolveLocal(config, env);
    if (problems.length > 0) throw new ConfigError(problems);
    const packaged = await hashFunctions(functions, config.concurrency);
    for (const f of packaged) log.info(`  ${f.relPath} → ${f.name}  (${formatBytes(f.size)}, sha256 ${f.sha256.slice(0, 12)}…, ${f.runtime})`);
    return packaged;
  });
}
