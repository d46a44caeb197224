import type { FunctionSpec, PackagedFunction } from '../artifacts/functions.js';
import { RemoteError } from '../errors.js';
import type { DeploymentRecord, RecordedFunction } from '../record/types.js';

// deploy/stop/plan are written once against these interfaces; gateway and meta implement them.

/**
 * The most Gestalt writes of one run in flight, whatever GESTALT_CONCURRENCY says: Gestalt Meta as shipped runs
 * every request's database work through a pool of 10 connections (HikariCP maximumPoolSize in its
 * application.conf), so more writes at once only wait inside Meta for a connection, and the gateway's deployment
 * lambda writes to the same Meta. S3, which scales far beyond that, keeps the full GESTALT_CONCURRENCY.
 */
export const GESTALT_WRITES_IN_FLIGHT = 10;

/** The number of Gestalt calls a run keeps in flight at `concurrency`. */
export function gestaltConcurrency(concurrency: number): number {
  return Math.min(concurrency, GESTALT_WRITES_IN_FLIGHT);
}

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
  claim: Claim;
}

/**
 * What a run will create or change for one function, decided before its first write so the record can name
 * it first: meta mode chooses the ids itself (Meta honours a client id), gateway mode cannot.
 */
export interface Claim {
  id?: string;
  endpointIds?: string[];
  /** Set when a resource of that name exists but is not provably this environment's: it is left alone. */
  refused?: string;
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
  action: 'create' | 'update' | 'unchanged' | 'refuse';
  endpoint: 'create' | 'existing' | 'update' | 'replace' | 'unknown';
  changed?: string[];
  changes?: FieldChange[];
  refused?: string;
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
  /** After open, before any write: remote checks of the functions' settings (meta: their secrets); throws ConfigError. */
  preflight?(functions: FunctionSpec[]): Promise<void>;
  claim(fn: Pick<PackagedFunction, 'name'>): Claim;
  plan(req: Omit<DeployRequest, 'claim'>): Promise<PlanResult>;
  deploy(req: DeployRequest): Promise<DeployResult>;
  remove(fn: RecordedFunction, record: DeploymentRecord): Promise<RemoveResult>;
  /** Functions of this project and environment found without a record (meta: by ownership mark); gateway cannot list. */
  discover(): Promise<RecordedFunction[]>;
  /** What the lookups saw under a function name (meta: each lambda's id and a digest of it and its endpoints); gateway cannot read. */
  observe?(name: string): { id: string; digest: string }[];
  /** Whether a resource id may still exist as far as this run knows (seen by the lookups and not removed since). */
  mayExist(id: string): boolean;
}

/** A deploy that failed and provably created nothing (the chosen ids are absent in Gestalt): the record may forget it. */
export class NothingCreated extends RemoteError {
  constructor(cause: Error) {
    super(cause.message, { cause });
    this.name = 'NothingCreated';
  }
}
