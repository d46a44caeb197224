import type { Problem } from '../errors.js';
import type { Config, FunctionSource } from './types.js';
import { readFunctionsFile } from './functions-file.js';

/**
 * The functions file's entries first (they carry per-function settings), then LAMBDA_ARTIFACTS. The file's
 * problems come back beside its usable entries, so their artifacts are still matched in the same run.
 */
export async function functionSources(config: Pick<Config, 'functionsFile' | 'artifacts' | 'target'>, env: Record<string, string | undefined>): Promise<{ sources: FunctionSource[]; problems: Problem[] }> {
  const sources: FunctionSource[] = [];
  const problems: Problem[] = [];
  if (config.functionsFile) {
    const parsed = await readFunctionsFile(config.functionsFile, env, { mode: config.target.mode }).catch((err: NodeJS.ErrnoException) => {
      // A missing file is already a GESTALT_CONFIG problem of the configuration; anything else is said here.
      if (err.code !== 'ENOENT') problems.push({ variable: 'GESTALT_CONFIG', message: `'${config.functionsFile}' cannot be read (${err.code ?? err.message}); point GESTALT_CONFIG at a readable YAML file.` });
      return { sources: [], problems: [] };
    });
    problems.push(...parsed.problems);
    sources.push(...parsed.sources);
  }
  if (config.artifacts.length > 0) sources.push({ source: 'LAMBDA_ARTIFACTS', patterns: config.artifacts, overrides: {} });
  return { sources, problems };
}
