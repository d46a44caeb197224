import type { PackagedFunction } from '../artifacts/functions.js';
import type { Config } from '../config/types.js';
import { pickGestaltSettings } from './gestalt-settings.js';
import type { HistoryCommand, HistoryEntry, HistoryFunction, ReportedHistoryEntry } from './types.js';

/** What a history entry keeps of one deployed function: enough to deploy it again without the checkout. */
export function historyFunction(fn: PackagedFunction, packageKey: string): HistoryFunction {
  const gestalt = pickGestaltSettings(fn);
  return {
    name: fn.name,
    file: fn.file,
    packageKey,
    sha256: fn.sha256,
    size: fn.size,
    ...copiedSettings(fn),
    ...(gestalt ? { gestalt } : {}),
  };
}

/** The settings both shapes share, copied so neither shares arrays or maps with the other. */
function copiedSettings(f: Pick<HistoryFunction, 'runtime' | 'handler' | 'memory' | 'cpus' | 'timeout' | 'methods' | 'public' | 'env' | 'verify'>) {
  return {
    runtime: f.runtime,
    handler: f.handler,
    memory: f.memory,
    cpus: f.cpus,
    timeout: f.timeout,
    methods: [...f.methods],
    public: f.public,
    env: { ...f.env },
    ...(f.verify ? { verify: { ...f.verify } } : {}),
  };
}

/** The reverse: a function spec built from an entry, for rollback and promote (no file on disk: absPath stays empty). */
export function packagedFromHistory(f: HistoryFunction, source: string, name = f.name): PackagedFunction {
  return {
    name,
    file: f.file,
    relPath: f.file,
    absPath: '',
    ...copiedSettings(f),
    ...(f.gestalt ? pickGestaltSettings(f.gestalt) : {}),
    source,
    sha256: f.sha256,
    size: f.size,
    // Never uploaded again (the object is proven present first), so no per-part hashes are needed.
    partSize: 0,
    partSha256: [],
  };
}

/** A rollback or promote entry names the commit its code came from (what runs), and what it restored. */
export function newEntry(config: Config, command: HistoryCommand, functions: HistoryFunction[], from?: { label: string; sha: string; ref: string }): Omit<HistoryEntry, 'number'> {
  const { job } = config;
  return {
    command,
    at: new Date().toISOString(),
    sha: from?.sha ?? job.sha,
    ref: from?.ref ?? job.ref,
    pipelineId: job.pipelineId,
    jobUrl: job.jobUrl,
    ...(from ? { from: from.label } : {}),
    functions: [...functions].sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/** What gestalt-deploy.json and gestalt-history.json say of an entry: everything but the env values. */
export function reportedEntry(e: HistoryEntry): ReportedHistoryEntry {
  return { ...e, functions: e.functions.map((f) => ({ ...f, env: Object.keys(f.env).sort() })) };
}
