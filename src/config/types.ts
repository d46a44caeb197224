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
  handler: string; // may hold {file}
  memory: number;
  cpus: number;
  timeout: number;
  methods: string[];
  public: boolean;
  env: Record<string, string>;
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
  /** GESTALT_TRUST_POLICY: the role's trust policy (JSON or a file), which only doctor reads. */
  trustPolicy?: string;
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
  /** Absolute path of the per-function YAML file, when one applies. */
  functionsFile?: string;
  concurrency: number;
  debug: boolean;
  http: { timeoutMs: number; retry: RetryPolicy };
  outputDir: string;
}
