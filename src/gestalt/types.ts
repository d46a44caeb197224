import type { PackagedFunction } from '../artifacts/functions.js';
import type { DeploymentRecord, RecordedFunction } from '../record/types.js';

// deploy/stop/plan are written once against this interface; gateway and meta implement it.

export interface Placement {
  api: string;
  environmentId: string;
}

export interface DeployRequest {
  fn: PackagedFunction;
  packageKey: string;
  packageUrl: string;
  previous?: RecordedFunction;
}

/** One setting that differs from what Gestalt has, rendered for people (no secret value, no URL signature). */
export interface FieldChange {
  field: string;
  from: string;
  to: string;
}

export interface DeployResult {
  action: 'created' | 'updated' | 'unchanged';
  /** existing: up to date; updated: PATCHed; replaced: a Failed one deleted and created anew. */
  endpoint: 'created' | 'existing' | 'updated' | 'replaced';
  url?: string;
  id?: string;
  endpointIds?: string[];
  changed?: string[];
  changes?: FieldChange[];
}

export interface PlanResult {
  action: 'create' | 'update' | 'unchanged';
  endpoint: 'create' | 'existing' | 'update' | 'replace' | 'unknown';
  changed?: string[];
  changes?: FieldChange[];
}

export interface RemoveResult {
  outcome: 'removed' | 'absent';
  endpoints: number;
}

export interface GestaltTarget {
  readonly mode: 'gateway' | 'meta';
  /** For logs: where the functions go. */
  readonly label: string;
  /** Lookups done once per run (meta: org, environment, API, existing lambdas and endpoints). */
  prepare(placement: Placement | undefined, purpose: 'deploy' | 'plan' | 'stop'): Promise<void>;
  /** After prepare, before any write: remote checks of the functions' settings (meta: their secrets); throws ConfigError. */
  preflight?(functions: PackagedFunction[]): Promise<void>;
  plan(req: DeployRequest): Promise<PlanResult>;
  deploy(req: DeployRequest): Promise<DeployResult>;
  remove(fn: RecordedFunction, record: DeploymentRecord): Promise<RemoveResult>;
  /** Functions of this project/ref found without a record (meta: by name prefix); gateway cannot list. */
  discover(namePrefix: string): Promise<RecordedFunction[]>;
  /** doctor: a read-only reachability check; resolves to a one-line description. */
  probe(): Promise<string>;
}
