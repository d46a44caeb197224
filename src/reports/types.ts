import type { FieldChange } from '../gestalt/types.js';
import type { ReportedHistoryEntry } from '../history/types.js';

/** One function's line in gestalt-deploy.json. */
export interface FunctionReport {
  name: string;
  file: string;
  action: string; // created | updated | unchanged | create | update | removed | absent | failed
  endpoint?: string;
  packageKey?: string;
  sha256?: string;
  size?: number;
  upload?: 'uploaded' | 'skipped' | 'would upload' | 'would skip';
  bytesUploaded?: number;
  url?: string;
  id?: string;
  changed?: string[];
  /** Each changed setting with its current and new value (plan and deploy; env: names only, values may be secret). */
  changes?: FieldChange[];
  /** This function's own time in each phase (deploy: upload, deploy), in ms. */
  timingsMs?: Record<string, number>;
  error?: string;
}

/** One line of doctor's checks. */
export interface Check {
  status: 'ok' | 'fail' | 'warn';
  text: string;
}

export interface RunReport {
  tool: 'gestalt-deploy';
  version: string;
  command: 'deploy' | 'stop' | 'plan' | 'doctor' | 'history' | 'rollback' | 'promote' | 'verify' | 'prune';
  /** invalid: a configuration error; nothing remote was written (the problems say why). */
  status: 'success' | 'partial' | 'failed' | 'nothing-to-do' | 'cancelled' | 'invalid';
  mode: 'gateway' | 'meta';
  environment: string;
  environmentUrl?: string;
  /** The function whose URL is the environment URL (GESTALT_ENVIRONMENT_URL_FUNCTION or primary: true); else the first by name. */
  environmentUrlFunction?: string;
  record?: string;
  /** false when the record write failed: the report still lists what exists. */
  recordWritten?: boolean;
  project: string;
  ref: string;
  sha: string;
  jobUrl?: string;
  startedAt: string;
  finishedAt: string;
  /** Each phase's wall time in ms (phases of the pipelined deploy overlap); total: the whole run, start-up included. */
  timingsMs: Record<string, number>;
  /** Phases run per function: the sum of every function's own time in each (what it would take one after another). */
  phaseSumsMs?: Record<string, number>;
  totals: { functions: number; failed: number; bytesUploaded: number };
  functions: FunctionReport[];
  errors: string[];
  /** Configuration problems, each naming its variable or file:line. */
  problems?: { variable: string; message: string }[];
  warnings?: string[];
  /** doctor: what it checked (gestalt-doctor.json); verify: one line per endpoint called (gestalt-verify.json). */
  checks?: Check[] | VerifyCheck[];
  /** history: the entries, newest first; deploy/rollback/promote: the entry this run added. */
  history?: ReportedHistoryEntry[];
  /** plan: what it read, so `deploy` with GESTALT_PLAN can refuse when any of it changed since. */
  reviewed?: ReviewedPlan;
  /** prune: what was (or, with --dry-run, would be) deleted and stopped. */
  pruned?: { dryRun: boolean; packages: string[]; environments: string[] };
}

export interface VerifyCheck {
  name: string;
  url: string;
  method: string;
  expect: string;
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
}

/** What Gestalt holds under one function name: every lambda of that name with a digest of all Meta says of it. */
export type ObservedState = { id: string; digest: string }[] | 'absent' | 'unread';

export interface ReviewedFunction {
  name: string;
  packageKey: string;
  sha256: string;
  /** 'unread': the mode cannot read Gestalt (gateway). */
  gestalt: ObservedState;
}

export interface ReviewedPlan {
  schema: 1;
  environment: string;
  project: string;
  mode: 'gateway' | 'meta';
  environmentId?: string;
  /** The deployment record's ETag as the plan read it, or 'absent'. */
  record: string;
  functions: ReviewedFunction[];
}
