import { UUID_RE } from '../config/checks.js';
import type { DeploymentRecord, FunctionState, RecordedFunction } from './types.js';

// The record is untrusted input: anyone with write access to the bucket can change it, and a truncated write
// or another tool's file can sit under its key. Everything stop or deploy will act on is checked here, once.

/** What the job knows for sure; the record must agree with it. */
export interface RecordExpectation {
  environment: string;
  projectPath: string;
  mode: 'gateway' | 'meta';
}

export class InvalidRecord extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidRecord';
  }
}

const STATES: readonly FunctionState[] = ['pending', 'deployed', 'failed'];
export const SHA256_RE = /^[0-9a-f]{64}$/;
// eslint-disable-next-line no-control-regex
export const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** The document as a JSON object, or InvalidRecord saying why not. */
export function parseJsonObject(text: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InvalidRecord('it is not JSON (truncated or overwritten)');
  }
  if (!isObject(raw)) throw new InvalidRecord('it is not a JSON object');
  return raw;
}

export function parseRecord(text: string, expect: RecordExpectation): DeploymentRecord {
  const raw = parseJsonObject(text);
  if (raw.schema !== 1 && raw.schema !== 2) throw new InvalidRecord(`its schema ${JSON.stringify(raw.schema)} is not one this version reads (1 or 2)`);
  if (raw.environment !== expect.environment) throw new InvalidRecord(`it is for environment ${JSON.stringify(raw.environment)}, not '${expect.environment}'`);
  if (raw.mode !== 'gateway' && raw.mode !== 'meta') throw new InvalidRecord(`its mode ${JSON.stringify(raw.mode)} is neither gateway nor meta`);
  if (raw.mode !== expect.mode) throw new InvalidRecord(`it was written in ${raw.mode} mode and this job runs in ${expect.mode} mode`);
  const project = isObject(raw.project) ? raw.project : {};
  if (expect.projectPath && project.path !== expect.projectPath) throw new InvalidRecord(`it belongs to project ${JSON.stringify(project.path)}, not '${expect.projectPath}'`);
  if (raw.environmentId !== undefined && !(typeof raw.environmentId === 'string' && UUID_RE.test(raw.environmentId))) throw new InvalidRecord('its environmentId is not a UUID');
  if (raw.mode === 'meta' && raw.environmentId === undefined) throw new InvalidRecord('it names no environmentId');
  if (!Array.isArray(raw.functions)) throw new InvalidRecord('it has no functions list');
  const projectName = str(project.name);
  const functions = raw.functions.map((f, i) => parseFunction(f, i, raw.mode as 'gateway' | 'meta', projectName));
  return {
    schema: 2,
    environment: expect.environment,
    mode: raw.mode,
    project: { name: projectName, path: str(project.path), id: str(project.id) },
    ref: str(raw.ref),
    sha: str(raw.sha),
    pipelineId: str(raw.pipelineId),
    jobUrl: str(raw.jobUrl),
    updatedAt: str(raw.updatedAt),
    api: optStr(raw.api),
    environmentId: optStr(raw.environmentId)?.toLowerCase(),
    org: optStr(raw.org),
    functions,
  };
}

function parseFunction(f: unknown, i: number, mode: 'gateway' | 'meta', projectName: string): RecordedFunction {
  const where = `function ${i + 1}`;
  if (!isObject(f)) throw new InvalidRecord(`${where} is not an object`);
  const name = f.name;
  if (typeof name !== 'string' || name.trim() === '' || CONTROL_RE.test(name)) throw new InvalidRecord(`${where} has no well-formed name`);
  const label = `function '${name}'`;
  if (f.id !== undefined && !(typeof f.id === 'string' && UUID_RE.test(f.id))) throw new InvalidRecord(`${label} has an id that is not a UUID`);
  if (f.endpointIds !== undefined && !(Array.isArray(f.endpointIds) && f.endpointIds.every((e) => typeof e === 'string' && UUID_RE.test(e)))) {
    throw new InvalidRecord(`${label} has endpoint ids that are not UUIDs`);
  }
  // Gateway mode: the deployment lambda names functions <project>/<ref>/<file>; a name outside the project is not ours.
  if (mode === 'gateway' && !(projectName && name.startsWith(`${projectName}/`))) throw new InvalidRecord(`${label} does not belong to project '${projectName}'`);
  const file = f.file;
  if (typeof file !== 'string' || file === '' || file.includes('/') || file === '.' || file === '..' || CONTROL_RE.test(file)) throw new InvalidRecord(`${label} has no well-formed file name`);
  if (f.sha256 !== undefined && f.sha256 !== '' && !(typeof f.sha256 === 'string' && SHA256_RE.test(f.sha256))) throw new InvalidRecord(`${label} has a sha256 that is not 64 hex digits`);
  // Schema 1 records listed only functions that finished deploying.
  const state = f.state === undefined ? 'deployed' : f.state;
  if (!STATES.includes(state as FunctionState)) throw new InvalidRecord(`${label} has an unknown state ${JSON.stringify(f.state)}`);
  return {
    name,
    file,
    runtime: str(f.runtime),
    handler: str(f.handler),
    packageKey: str(f.packageKey),
    sha256: str(f.sha256),
    url: optStr(f.url),
    id: optStr(f.id)?.toLowerCase(),
    endpointIds: Array.isArray(f.endpointIds) ? (f.endpointIds as string[]).map((e) => e.toLowerCase()) : undefined,
    deployedAt: str(f.deployedAt),
    state: state as FunctionState,
    error: optStr(f.error),
  };
}

/** A plain JSON object (not null, not an array): what every untrusted document and entry must be. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function optStr(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
