import type { SettingChange } from '../gestalt/types.js';

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
  /** plan: each changed setting with its current and new value (env: names only, values may be secret). */
  changes?: SettingChange[];
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
  command: 'deploy' | 'stop' | 'plan' | 'doctor';
  /** invalid: a configuration error; nothing remote was written (the problems say why). */
  status: 'success' | 'partial' | 'failed' | 'nothing-to-do' | 'invalid';
  mode: 'gateway' | 'meta';
  environment: string;
  environmentUrl?: string;
  /** The function whose URL is the environment URL (GESTALT_ENVIRONMENT_URL_FUNCTION or primary: true); else the first by name. */
  environmentUrlFunction?: string;
  record?: string;
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
  /** Configuration problems, each naming its variable or file:line. */
  problems?: { variable: string; message: string }[];
  warnings?: string[];
  /** doctor: what it checked. */
  checks?: Check[];
}
