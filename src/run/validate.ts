import { existsSync } from 'node:fs';
import { isArchive } from '../artifacts/archive.js';
import { resolveFunctions, type FunctionSpec } from '../artifacts/functions.js';
import { readConfig } from '../config/env.js';
import { unknownVariableWarnings } from '../config/known-variables.js';
import { functionSources } from '../config/sources.js';
import type { Command, Config } from '../config/types.js';
import type { Problem } from '../errors.js';

/** Everything known before any remote call: the configuration, the functions it describes, what is wrong with them. */
export interface Validation {
  config: Config;
  functions: FunctionSpec[];
  problems: Problem[];
  warnings: string[];
}

/**
 * The one validation every command runs. doctor checks by deploy's rules, so it reports exactly the problems
 * deploy would; the variables, the functions file and the artifacts are all checked in one pass, so one run
 * names every mistake.
 */
export async function validate(command: Command, env: Record<string, string | undefined>, cwd: string): Promise<Validation> {
  const rules = command === 'doctor' ? 'deploy' : command;
  const { config, problems } = readConfig(rules, env, cwd);
  config.command = command;
  const warnings = config.warnings;
  warnings.push(...unknownVariableWarnings(env));
  // Only deploy and plan read the checkout; stop, history, rollback, promote and verify work from S3 alone.
  if (rules === 'deploy' || rules === 'plan') {
    const local = await resolveLocal(config, env);
    problems.push(...local.problems);
    warnings.push(...local.warnings);
    return { config, functions: local.functions, problems, warnings };
  }
  return { config, functions: [], problems, warnings };
}

/** The functions file and LAMBDA_ARTIFACTS matched in the project dir, with the rules that need the matched packages. */
export function resolveLocal(config: Config, env: Record<string, string | undefined>): Promise<Omit<Validation, 'config'>> {
  // Validation and the command both ask, for the same configuration: the project dir is walked once per run.
  let local = matched.get(config);
  if (!local) matched.set(config, (local = matchLocal(config, env)));
  return local;
}

const matched = new WeakMap<Config, Promise<Omit<Validation, 'config'>>>();

async function matchLocal(config: Config, env: Record<string, string | undefined>): Promise<Omit<Validation, 'config'>> {
  // No project dir is already a CI_PROJECT_DIR problem; there is nothing to match in it.
  if (!existsSync(config.job.projectDir)) return { functions: [], problems: [], warnings: [] };
  const { sources, problems } = await functionSources(config, env);
  const resolved = await resolveFunctions(config, sources);
  const warnings: string[] = [];
  problems.push(...resolved.problems);
  archiveRule(config, resolved.functions, problems, warnings);
  environmentUrlRule(config, resolved.functions, problems);
  return { functions: resolved.functions, problems, warnings };
}

/**
 * Gestalt runs an archive by the file its handler names inside it, so the file-name default is wrong for one.
 * Meta mode: a problem per source (LAMBDA_HANDLER, or the functions file entry). Gateway mode: the deployment
 * lambda decides, so one warning.
 */
function archiveRule(config: Config, functions: FunctionSpec[], problems: Problem[], warnings: string[]): void {
  const unhandled = functions.filter((f) => f.handlerDefaulted && isArchive(f.file));
  if (unhandled.length === 0) return;
  if (config.target.mode === 'gateway') {
    warnings.push(
      `${few(unhandled.map((f) => f.relPath))} ${unhandled.length === 1 ? 'is an archive' : 'are archives'}: in gateway mode the deployment lambda decides handler and compression (the original stores the file name as handler and compressed: false), so Gestalt may not find the code inside; use meta mode (GESTALT_META_URL) with LAMBDA_HANDLER to name the file in the archive.`,
    );
    return;
  }
  for (const [source, fns] of groupBy(unhandled, (f) => f.source)) {
    const files = few(fns.map((f) => f.relPath));
    const archives = fns.length === 1 ? `${files} is an archive` : `${files} are archives`;
    problems.push(
      source === 'LAMBDA_ARTIFACTS'
        ? { variable: 'LAMBDA_HANDLER', message: `is not set, and ${archives}: Gestalt runs the file the handler names inside the archive, so there is no default; set LAMBDA_HANDLER to it (e.g. index.handler), or handler: per function in gestalt-deploy.yml.` }
        : { variable: source, message: `no handler for the archive${fns.length === 1 ? '' : 's'} ${files} (and LAMBDA_HANDLER is not set): Gestalt runs the file the handler names inside the archive; add handler: (e.g. index.handler) to this function, or set LAMBDA_HANDLER.` },
    );
  }
}

/**
 * GESTALT_ENVIRONMENT_URL_FUNCTION (a function name or package file name) or one `primary: true` picks the
 * environment URL; the choice is kept in the config as a function name for the reports.
 */
function environmentUrlRule(config: Config, functions: FunctionSpec[], problems: Problem[]): void {
  const primaries = functions.filter((f) => f.primary);
  if (primaries.length > 1) {
    problems.push({ variable: [...new Set(primaries.map((f) => f.source))].join(', '), message: `primary: true marks ${primaries.length} functions (${few(primaries.map((f) => f.name))}); mark the one whose URL GitLab should show.` });
  }
  const wanted = config.environmentUrlFunction;
  if (wanted === undefined) {
    config.environmentUrlFunction = primaries.length === 1 ? primaries[0]?.name : undefined;
    return;
  }
  const byName = functions.filter((f) => f.name === wanted);
  const hits = byName.length > 0 ? byName : functions.filter((f) => f.file === wanted || f.relPath === wanted);
  if (hits.length === 1) {
    config.environmentUrlFunction = hits[0]?.name;
    return;
  }
  if (functions.length === 0) return; // nothing matched: the artifacts' own problems say why
  problems.push({
    variable: 'GESTALT_ENVIRONMENT_URL_FUNCTION',
    message: hits.length === 0
      ? `'${wanted}' names no function of this deploy; use a function name or package file name: ${few(functions.map((f) => f.name))}.`
      : `'${wanted}' is the package file of ${hits.length} functions (${few(hits.map((f) => f.name))}); use the function name.`,
  });
}

function few(items: string[]): string {
  return items.length <= 3 ? items.join(', ') : `${items.slice(0, 3).join(', ')} and ${items.length - 3} more`;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
}
