import { hashFunctions, resolveFunctions, type PackagedFunction } from '../artifacts/functions.js';
import { functionSources } from '../config/sources.js';
import type { Config } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { formatBytes } from '../log/format.js';

/** Local only: expands, validates and hashes the packages, so a bad pattern fails before any remote call. */
export async function collectFunctions(config: Config, env: Record<string, string | undefined>, log: Logger): Promise<PackagedFunction[]> {
  return log.section('artifacts', 'Function packages', async () => {
    const sources = await functionSources(config, env);
    const { functions, problems } = await resolveFunctions(config, sources);
    if (problems.length > 0) throw new ConfigError(problems);
    const packaged = await hashFunctions(functions, config.concurrency);
    for (const f of packaged) log.info(`  ${f.relPath} → ${f.name}  (${formatBytes(f.size)}, sha256 ${f.sha256.slice(0, 12)}…, ${f.runtime})`);
    return packaged;
  });
}
