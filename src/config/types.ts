import type { RetryPolicy } from '../net/retry.js';

export type Command = 'deploy' | 'stop' | 'plan' | 'doctor' | 'history' | 'rollback' | 'promote' | 'verify' | 'prune';
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
export interface FunctionSettings extends GestaltSettings {
  runtime?: string;
  handler?: string; // may hold {file}; unset: the package's file name, for single-file packages only
  memory: number;
  cpus: number;
  timeout: number;
  methods: string[];
  public: boolean;
  env: Record<string, string>;
  /** What `verify` calls on this function's endpoint; unset: GET expecting a status below 500. */
  verify?: VerifySpec;
}

export interface VerifySpec {
  path?: string;
  method?: string;
  status?: number;
  body?: string;
}

/** Settings only the functions file can give (meta mode): they map onto Gestalt lambda and endpoint properties. */
export interface GestaltSettings {
  secrets?: SecretMountSetting[];
  schedule?: ScheduleSetting;
  headers?: Record<string, string>;
  preWarm?: number;
  isolate?: boolean;
  endpoint?: EndpointSettings;
}

/** A Gestalt Secret of the environment, by name or id, mounted into the lambda. */
export interface SecretMountSetting {
  /** file:line of the entry, for problems found later against Meta. */
  source: string;
  name?: string;
  id?: string;
  mount: 'env' | 'file' | 'directory';
  /** The variable name (env) or the mount path (file, directory). */
  path: string;
  /** The secret's item; every item is mounted for a directory. */
  key?: string;
}

/** Gestalt's periodic invocation: an ISO-8601 repeating interval in a time zone, with the event it sends. */
export interface ScheduleSetting {
  interval: string;
  timezone: string;
  event: string;
  data: unknown;
}

/** Endpoint options besides methods (which stay in FunctionSettings.methods). Unset means Meta's default. */
export interface EndpointSettings {
  synchronous?: boolean;
  isHttpAware?: boolean;
  hosts?: string[];
  rateLimitPerMinute?: number;
  gestaltSecurity?: boolean;
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
  /** GESTALT_ENVIRONMENT_URL_FUNCTION: the function (name or package file name) whose URL GitLab shows. */
  environmentUrlFunction?: string;
  /** Absolute path of the per-function YAML file, when one applies. */
  functionsFile?: string;
  concurrency: number;
  debug: boolean;
  /** GESTALT_HTTP_TIMEOUT: the time each try of any remote call (Gestalt, S3, STS) may take, body included. */
  http: { timeoutMs: number; retry: RetryPolicy };
  outputDir: string;
  lifecycle: LifecycleSettings;
  /**
   * Settings that work but deserve a word (env.ts), then what validation adds (unknown variables, archives in
   * gateway mode): printed once before the command runs (doctor: among its checks), kept in the report.
   */
  warnings: string[];
}

/** history, rollback, promote, verify, prune, and deploy of a reviewed plan. */
export interface LifecycleSettings {
  historyLimit: number;
  /** A history number or a commit SHA prefix (≥ 7); unset: the entry before the newest. */
  rollbackTo?: string;
  promoteFrom?: string;
  verifyTimeoutSeconds: number;
  verifyRollback: boolean;
  /** Globs of environment names prune may stop; none by default. */
  pruneEnvironments: string[];
  prunePackagesDays: number;
  pruneAfterDays: number;
  dryRun: boolean;
  /** deploy: the gestalt-plan.json whose reviewed state must still hold. */
  planFile?: string;
}

/** What turning sources into functions reads: the job (names, project dir), the defaults and the name template. */
export type FunctionInputs = Pick<Config, 'job' | 'defaults' | 'nameTemplate'>;
