/** What one environment has deployed: everything `stop` needs, so it runs with no checkout. */
export interface RecordedFunction {
  name: string;
  file: string;
  runtime: string;
  handler: string;
  packageKey: string;
  sha256: string;
  url?: string;
  /** meta mode: the lambda's id and its endpoints' ids. */
  id?: string;
  endpointIds?: string[];
  deployedAt: string;
}

export interface DeploymentRecord {
  schema: 1;
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
