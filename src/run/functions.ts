import type { FunctionSpec, PackagedFunction } from '../artifacts/functions.js';
import type { Config } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { formatBytes } from '../log/format.js';
import { resolveLocal } from './validate.js';

/** Local only: expands and validates the packages, so a bad pattern fails before any remote call. */
export async function resolveSpecs(config: Config, env: Record<string, string | undefined>): Promise<FunctionSpec[]> {
  // main validated this already; resolveLocal hands back that same match, so this stage stays whole on its own.
  const { functions, problems } = await resolveLocal(config, env);
  if (problems.length > 0) throw new ConfigError(problems);
  return functions;
}

/** The packages' section, printed once all are hashed (they hash while the remote lookups run). */
export function logPackages(log: Logger, packaged: PackagedFunction[]): Promise<void> {
  return log.section('artifacts', 'Function packages', async () => {
    for (const f of packaged) log.info(`  ${f.relPath} → ${f.name}  (${formatBytes(f.size)}, sha256 ${f.sha256.slice(0, 12)}…, ${f.runtime})`);
  });
}
