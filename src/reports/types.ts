import type { HistoryEntry } from '../history/types.js';

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
  /** Each changed setting with its current and new value (plan and deploy). */
  changes?: { field: string; from: string; to: string }[];
  error?: string;
}

export interface RunReport {
  tool: 'gestalt-deploy';
  version: string;
  command: 'deploy' | 'stop' | 'plan' | 'history' | 'rollback' | 'promote' | 'verify' | 'prune';
  status: 'success' | 'partial' | 'failed' | 'nothing-to-do' | 'cancelled';
  mode: 'gateway' | 'meta';
  environment: string;
  environmentUrl?: string;
  record?: string;
  /** false when the record write failed: the report still lists what exists. */
  recordWritten?: boolean;
  project: string;
  ref: string;
  sha: string;
  jobUrl?: string;
  startedAt: string;
  finishedAt: string;
  timingsMs: Record<string, number>;
  totals: { functions: number; failed: number; bytesUploaded: number };
  functions: FunctionReport[];
  errors: string[];
  /** history: the entries, newest first; deploy/rollback/promote: the entry this run added. */
  history?: HistoryEntry[];
  /** verify: one line per endpoint called. */
  checks?: VerifyCheck[];
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
