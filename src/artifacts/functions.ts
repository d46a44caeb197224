import { basename, extname } from 'node:path';
import type { Problem } from '../errors.js';
import type { FunctionInputs, FunctionSettings, FunctionSource, GestaltSettings, JobContext } from '../config/types.js';
import { mapLimit } from '../net/pool.js';
import { escapeControl, hasControlChars } from '../log/printable.js';
import { hashFile, matchFiles, type FileDigest } from './files.js';

/** One package as it will be deployed: its settings resolved (runtime required, handler rendered). */
export interface FunctionSpec extends Omit<FunctionSettings, 'runtime' | 'handler'> {
  name: string;
  handler: string;
  /** Neither LAMBDA_HANDLER nor handler: was set, so the handler is the file name (wrong for an archive). */
  handlerDefaulted?: boolean;
  /** primary: true in the functions file: its URL is the environment URL. */
  primary?: boolean;
  file: string; // package file name
  relPath: string;
  absPath: string;
  runtime: string;
  source: string;
}

export interface PackagedFunction extends FunctionSpec, FileDigest {}

export function renderName(template: string, job: JobContext, file: string): string {
  const values: Record<string, string> = {
    project: job.projectName,
    project_path: job.projectPath,
    ref: job.ref,
    file,
    basename: basename(file, extname(file)),
    env: job.environmentSlug,
  };
  return template.replace(/\{(\w+)\}/g, (whole, token: string) => values[token] ?? whole);
}

/**
 * Turns the sources into one spec per package. A package matched by several sources takes the
 * first (the functions file is listed before LAMBDA_ARTIFACTS); two packages with one function name
 * are a problem because the second deploy would silently replace the first.
 */
export async function resolveFunctions(config: FunctionInputs, sources: FunctionSource[]): Promise<{ functions: FunctionSpec[]; problems: Problem[] }> {
  const problems: Problem[] = [];
  const byPath = new Map<string, FunctionSpec>();
  for (const src of sources) {
    const matched = await matchFiles(src.patterns, config.job.projectDir, src.source);
    problems.push(...matched.problems);
    for (const f of matched.files) {
      if (byPath.has(f.absPath)) continue;
      const settings = { ...config.defaults, ...definedOnly(src.overrides) };
      const file = basename(f.relPath);
      const runtime = settings.runtime;
      if (!runtime) {
        problems.push({ variable: src.source === 'LAMBDA_ARTIFACTS' ? 'LAMBDA_RUNTIME' : src.source, message: `no runtime for '${f.relPath}'; set LAMBDA_RUNTIME (e.g. nodejs, python3) or runtime: for this function.` });
      }
      byPath.set(f.absPath, {
        name: renderName(src.overrides.name ?? config.nameTemplate, config.job, file),
        file,
        relPath: f.relPath,
        absPath: f.absPath,
        runtime: runtime ?? '',
        handler: (settings.handler ?? '{file}').replaceAll('{file}', file).replaceAll('{basename}', basename(file, extname(file))),
        handlerDefaulted: settings.handler === undefined,
        ...(src.overrides.primary ? { primary: true } : {}),
        memory: settings.memory,
        cpus: settings.cpus,
        timeout: settings.timeout,
        methods: settings.methods,
        public: settings.public,
        env: settings.env,
        ...gestaltSettings(settings),
        ...(settings.verify ? { verify: settings.verify } : {}),
        source: src.source,
      });
    }
  }
  const functions = [...byPath.values()];
  const byName = new Map<string, FunctionSpec>();
  for (const fn of functions) {
    if (hasControlChars(fn.name)) {
      // The file name was checked while matching: the rest of the name comes from the template or name:.
      problems.push({ variable: fn.source === 'LAMBDA_ARTIFACTS' ? 'GESTALT_NAME_TEMPLATE' : fn.source, message: `function name '${escapeControl(fn.name)}' (for '${fn.relPath}') contains control characters, which would garble the job log and reports; remove them from the name.` });
    }
    const other = byName.get(fn.name);
    if (other) {
      problems.push({ variable: fn.source === other.source ? fn.source : `${other.source}, ${fn.source}`, message: `'${other.relPath}' and '${fn.relPath}' would both deploy as function '${fn.name}'; rename one package, or include {basename}/{project_path} in GESTALT_NAME_TEMPLATE.` });
    }
    byName.set(fn.name, fn);
  }
  return { functions: functions.sort((a, b) => a.name.localeCompare(b.name)), problems };
}

export async function hashFunctions(functions: FunctionSpec[], limit: number): Promise<PackagedFunction[]> {
  return mapLimit(functions, limit, async (fn) => ({ ...fn, ...(await hashFile(fn.absPath)) }));
}

/** The meta-only settings that are set, so a spec without them looks exactly as before. */
function gestaltSettings(s: GestaltSettings): GestaltSettings {
  const { secrets, schedule, headers, preWarm, isolate, endpoint } = s;
  return definedOnly({ secrets, schedule, headers, preWarm, isolate, endpoint });
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
