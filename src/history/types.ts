import type { FunctionSettings, GestaltSettings } from '../config/types.js';

/**
 * An environment's deployments, newest first: what each successful deploy, rollback or promote put there,
 * with every setting, so a later rollback or promote can repeat it from the packages alone (no checkout).
 */
export type HistoryCommand = 'deploy' | 'rollback' | 'promote';

/** One function of an entry: its package and every setting it was deployed with. */
export interface HistoryFunction extends Omit<FunctionSettings, 'runtime' | 'handler' | keyof GestaltSettings> {
  name: string;
  file: string;
  packageKey: string;
  sha256: string;
  size: number;
  runtime: string;
  handler: string;
  /** Secret mounts, schedule, headers, pre-warm, isolation and endpoint options, when any was set. */
  gestalt?: GestaltSettings;
}

export interface HistoryEntry {
  /** 1, 2, 3, … per environment; never reused, so `GESTALT_ROLLBACK_TO=7` means one deployment forever. */
  number: number;
  command: HistoryCommand;
  at: string;
  sha: string;
  ref: string;
  pipelineId: string;
  jobUrl: string;
  /** rollback: the entry number it restored; promote: the environment it came from. */
  from?: string;
  functions: HistoryFunction[];
}

/** An entry as the JSON reports show it: env by names only, since a value may be a credential. */
export type ReportedHistoryEntry = Omit<HistoryEntry, 'functions'> & { functions: (Omit<HistoryFunction, 'env'> & { env: string[] })[] };

export interface DeploymentHistory {
  schema: 1;
  environment: string;
  project: string;
  entries: HistoryEntry[];
}
