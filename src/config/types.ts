import type { RetryPolicy } from '../net/retry.js';

export type Command = 'deploy' | 'stop' | 'plan' | 'doctor';
export type PackageAccess = 'private' | 'public' | 'presigned';

/** What GitLab's predefined variables say about the job. */
export interface JobContext {
  projectName: string;
  projectPath: string;
  projectId: string;
  projectDir: string;
  ref: string; // CI_COMMIT_REF_SLUG
  sha: string;
  environment: string; // CI_ENVIRONMENT_NAME
  environmentSlug: string;
  pipelineId: string;
  jobId: string;
  jobUrl: string;
  serverUrl: string;
}

/** Per-function settings; LAMBDA_* give the defaults, the functions file overrides per function. */
export interface FunctionSettings {
  runtime?: string;
  handler?: string; // may hold {file}; unset: the package's file name, for single-file packages only
  memory: number;
  cpus: number;
  timeout: number;
  methods: string[];
  public: boolean;
  env: Record<string, string>;
}

/** Where a group of packages comes from: LAMBDA_ARTIFACTS, or one entry of the functions file. */
export interface FunctionSource {
  source: string; // for messages: 'LAMBDA_ARTIFACTS' or 'gestalt-deploy.yml:12'
  patterns: string[];
  overrides: Partial<FunctionSettings> & { name?: string; primary?: boolean };
}

export interface BasicAuth {
  kind: 'basic';
  key: string;
  secret: string;
}
export interface BearerAuth {
  kind: 'bearer';
  token: string;
}

export interface GatewaySettings {
  mode: 'gateway';
  url: string;
  auth?: BasicAuth;
}

export interface MetaSettings {
  mode: 'meta';
  url: string;
  org: string;
  providerId?: string;
  gatewayUrl?: string;
  auth: BasicAuth | BearerAuth;
}

export type TargetSettings = GatewaySettings | MetaSettings;

export interface StaticKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface AwsSettings {
  region: string;
  s3Endpoint?: string;
  stsEndpoint?: string;
  roleArn?: string;
  idToken?: string;
  sessionName: string;
  durationSeconds: number;
  roleChain: string[];
  staticKeys?: StaticKeys;
}

export interface StorageSettings {
  bucket: string;
  prefix: string;
  forcePathStyle: boolean;
  access: PackageAccess;
  presignSeconds: number;
}

export interface Config {
  command: Command;
  job: JobContext;
  target: TargetSettings;
  aws: AwsSettings;
  storage: StorageSettings;
  /** LAMBDA_ARTIFACTS patterns (may be empty when the functions file lists every artifact). */
  artifacts: string[];
  api?: string;
  environmentId?: string;
  defaults: FunctionSettings;
  nameTemplate: string;
  /** GESTALT_ENVIRONMENT_URL_FUNCTION: the function (name or package file name) whose URL GitLab shows. */
  environmentUrlFunction?: string;
  /** Absolute path of the per-function YAML file, when one applies. */
  functionsFile?: string;
  concurrency: number;
  debug: boolean;
  http: { timeoutMs: number; retry: RetryPolicy };
  outputDir: string;
  /** What validation warned about (unknown variables, archives in gateway mode): logged once, kept in the report. */
  warnings?: string[];
}

/** What turning sources into functions reads: the job (names, project dir), the defaults and the name template. */
export type FunctionInputs = Pick<Config, 'job' | 'defaults' | 'nameTemplate'>;
