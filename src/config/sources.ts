import type { Config, FunctionSource } from './types.js';
import { readFunctionsFile } from './functions-file.js';
import { ConfigError } from '../errors.js';

/** The functions file's entries first (they carry per-function settings), then LAMBDA_ARTIFACTS. */
export async function functionSources(config: Config, env: Record<string, string | undefined>): Promise<FunctionSource[]> {
  const sources: FunctionSource[] = [];
  if (config.functionsFile) {
    const parsed = await readFunctionsFile(config.functionsFile, env, { mode: config.target.mode });
    if (parsed.problems.length > 0) throw new ConfigError(parsed.problems);
    sources.push(...parsed.sources);
  }
  if (config.artifacts.length > 0) sources.push({ source: 'LAMBDA_ARTIFACTS', patterns: config.artifacts, overrides: {} });
  return sources;
}
