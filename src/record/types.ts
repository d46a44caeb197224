/**
 * What one environment has deployed: everything `stop` needs, so it runs with no checkout. It names every
 * function a run may have created from before the run's first Gestalt write, with a state per function.
 */
export type FunctionState = 'pending' | 'deployed' | 'failed';

export interface RecordedFunction {
  name: string;
  file: string;
  runtime: string;
  handler: string;
  packageKey: string;
  sha256: string;
  url?: string;
  /** meta mode: the lambda's id and its endpoints' ids (chosen by the runner before it creates them). */
  id?: string;
  endpointIds?: string[];
  deployedAt: string;
  /** pending: a run may have created it (the answer is not in yet); failed: it may exist partly. */
  state: FunctionState;
  error?: string;
}

export interface DeploymentRecord {
  schema: 2;
  environment: string;
  mode: 'gateway' | 'meta';
  project: { name: string; path: string; id: string };
  ref: string;
  sha: string;
  pipelineId: string;
  jobUrl: string;
  updatedAt: string;
  /** Where the functions live: the stop job uses these rather than its own variables. */
  api?: string;
  environmentId?: string;
  org?: string;
  functions: RecordedFunction[];
}
