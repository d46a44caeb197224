import type { PackagedFunction } from '../artifacts/functions.js';
import type { DeploymentRecord, RecordedFunction } from '../record/types.js';

// deploy/stop/plan are written once against these interfaces; gateway and meta implement them.

export interface Placement {
  api: string;
  environmentId: string;
}

export type Purpose = 'deploy' | 'plan' | 'stop';

export interface DeployRequest {
  fn: PackagedFunction;
  packageKey: string;
  packageUrl: string;
  previous?: RecordedFunction;
}

export interface DeployResult {
  action: 'created' | 'updated' | 'unchanged';
  endpoint: 'created' | 'existing';
  url?: string;
  id?: string;
  endpointIds?: string[];
  changed?: string[];
}

/** One setting plan would change: its current and its new value, as printed. */
export interface SettingChange {
  field: string;
  from: string;
  to: string;
}

export interface PlanResult {
  action: 'create' | 'update' | 'unchanged';
  endpoint: 'create' | 'existing' | 'unknown';
  changed?: string[];
  changes?: SettingChange[];
}

export interface RemoveResult {
  outcome: 'removed' | 'absent';
  endpoints: number;
}

/** One way of reaching Gestalt. `open` does the run's lookups once and hands back what later calls need. */
export interface GestaltTarget {
  readonly mode: 'gateway' | 'meta';
  /** For logs: where the functions go. */
  readonly label: string;
  /** meta: reads org, environment, API, existing lambdas and endpoints; without a placement, only removal by id works. */
  open(placement: Placement | undefined, purpose: Purpose): Promise<GestaltSession>;
  /** doctor: a read-only reachability check; resolves to a one-line description. */
  probe(): Promise<string>;
}

/** The calls of one run, against the state `open` read. */
export interface GestaltSession {
  plan(req: DeployRequest): Promise<PlanResult>;
  deploy(req: DeployRequest): Promise<DeployResult>;
  remove(fn: RecordedFunction, record: DeploymentRecord): Promise<RemoveResult>;
  /** Functions of this project/ref found without a record (meta: by name prefix); gateway cannot list. */
  discover(namePrefix: string): Promise<RecordedFunction[]>;
}
