import { parseGestaltSettings } from './gestalt-settings.js';
import { CONTROL_RE, InvalidRecord, isObject, parseJsonObject, SHA256_RE, str } from '../record/schema.js';
import type { DeploymentHistory, HistoryCommand, HistoryEntry, HistoryFunction } from './types.js';

// The history is untrusted input like the record: rollback and promote deploy what it says, so every field
// they act on is checked here, once.

const COMMANDS: readonly HistoryCommand[] = ['deploy', 'rollback', 'promote'];

export function parseHistory(text: string, expect: { environment: string; projectPath: string }): DeploymentHistory {
  const raw = parseJsonObject(text);
  if (raw.schema !== 1) throw new InvalidRecord(`its schema ${JSON.stringify(raw.schema)} is not one this version reads (1)`);
  if (raw.environment !== expect.environment) throw new InvalidRecord(`it is for environment ${JSON.stringify(raw.environment)}, not '${expect.environment}'`);
  if (expect.projectPath && raw.project !== expect.projectPath) throw new InvalidRecord(`it belongs to project ${JSON.stringify(raw.project)}, not '${expect.projectPath}'`);
  if (!Array.isArray(raw.entries)) throw new InvalidRecord('it has no entries list');
  const entries = raw.entries.map(parseEntry);
  return { schema: 1, environment: expect.environment, project: String(raw.project), entries: entries.sort((a, b) => b.number - a.number) };
}

function parseEntry(e: unknown, i: number): HistoryEntry {
  if (!isObject(e)) throw new InvalidRecord(`entry ${i + 1} is not an object`);
  if (!(typeof e.number === 'number' && Number.isInteger(e.number) && e.number > 0)) throw new InvalidRecord(`entry ${i + 1} has no positive whole number`);
  const where = `entry #${e.number}`;
  if (!COMMANDS.includes(e.command as HistoryCommand)) throw new InvalidRecord(`${where} has an unknown command ${JSON.stringify(e.command)}`);
  if (!Array.isArray(e.functions)) throw new InvalidRecord(`${where} has no functions list`);
  return {
    number: e.number,
    command: e.command as HistoryCommand,
    at: str(e.at),
    sha: str(e.sha),
    ref: str(e.ref),
    pipelineId: str(e.pipelineId),
    jobUrl: str(e.jobUrl),
    from: typeof e.from === 'string' ? e.from : undefined,
    functions: e.functions.map((f, j) => parseFunction(f, `${where} function ${j + 1}`)),
  };
}

function parseFunction(f: unknown, where: string): HistoryFunction {
  if (!isObject(f)) throw new InvalidRecord(`${where} is not an object`);
  const bad = (field: string) => new InvalidRecord(`${where} has no well-formed ${field}`);
  if (typeof f.name !== 'string' || f.name.trim() === '' || CONTROL_RE.test(f.name)) throw bad('name');
  if (typeof f.file !== 'string' || f.file === '' || f.file.includes('/') || f.file === '.' || f.file === '..' || CONTROL_RE.test(f.file)) throw bad('file');
  if (typeof f.sha256 !== 'string' || !SHA256_RE.test(f.sha256)) throw bad('sha256');
  // The key must be the content address of that sha256 and file: a history cannot point a deploy at any other object.
  if (typeof f.packageKey !== 'string' || !f.packageKey.endsWith(`/packages/${f.sha256}/${f.file}`)) throw bad('packageKey');
  for (const n of ['size', 'memory', 'cpus', 'timeout'] as const) if (typeof f[n] !== 'number' || !(Number(f[n]) >= 0)) throw bad(n);
  for (const s of ['runtime', 'handler'] as const) if (typeof f[s] !== 'string') throw bad(s);
  if (!Array.isArray(f.methods) || !f.methods.every((m) => typeof m === 'string')) throw bad('methods');
  if (typeof f.public !== 'boolean') throw bad('public');
  if (!isObject(f.env) || !Object.values(f.env).every((v) => typeof v === 'string')) throw bad('env');
  const gestalt = parseGestaltSettings(f.gestalt);
  if (gestalt.bad) throw bad(gestalt.bad);
  return {
    name: f.name,
    file: f.file,
    packageKey: f.packageKey,
    sha256: f.sha256,
    size: f.size as number,
    runtime: f.runtime as string,
    handler: f.handler as string,
    memory: f.memory as number,
    cpus: f.cpus as number,
    timeout: f.timeout as number,
    methods: f.methods as string[],
    public: f.public,
    env: f.env as Record<string, string>,
    ...(isObject(f.verify) ? { verify: { path: optStr(f.verify.path), method: optStr(f.verify.method), status: typeof f.verify.status === 'number' ? f.verify.status : undefined, body: optStr(f.verify.body) } } : {}),
    ...(gestalt.settings ? { gestalt: gestalt.settings } : {}),
  };
}

function optStr(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
