// What "deployment state you can trust" means, as checks a test runs after a deploy or stop against the real
// state of a stand-in: the record names everything that exists, the report tells the truth, nothing is
// duplicated, and every Meta create carries a client-chosen id and the ownership mark. Each check returns a
// list of problems (empty = fine) so a test can print them all at once, together with the seed of the run.
import { randomBytes } from 'node:crypto';
import type { GatewayFake } from './gateway-fake.js';
import { startGatewayFake } from './gateway-fake.js';
import type { MetaEmulator } from './meta-emulator.js';
import { startMetaEmulator } from './meta-emulator.js';
import { makeProject, runCli } from './run-cli.js';
import type { S3Server } from './s3-server.js';

// Records, reports and Meta documents are untrusted JSON here: the checks look into them field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

export const MARK_PROJECT = 'gestalt-deploy.project';
export const MARK_ENVIRONMENT = 'gestalt-deploy.environment';
/** The public base every endpoint URL starts with, in both worlds. */
export const GATEWAY_BASE = 'https://gw.example.test';
export const API = 'dev1';
export const API_KEY = 'gf-key';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const SUCCESS = new Set(['created', 'updated', 'unchanged']);

export const isSuccess = (line: Json): boolean => SUCCESS.has(line?.action);

/** dist/f00.zip … with distinct contents; the names a deploy of ref `ref` gives them. */
export async function projectWithFunctions(count: number): Promise<{ dir: string; files: string[] }> {
  const files = Array.from({ length: count }, (_, i) => `f${String(i).padStart(2, '0')}.zip`);
  const content: Record<string, Buffer> = {};
  for (const f of files) content[`dist/${f}`] = Buffer.concat([Buffer.from(`PK-${f}-`), randomBytes(64)]);
  return { dir: await makeProject(content), files };
}

export const functionName = (file: string, ref = 'main', project = 'lambdas') => `${project}/${ref}/${file}`;

export function recordKey(environment: string, prefix = 'acme/lambdas'): string {
  return `${prefix}/deployments/${environment}.json`;
}

/** The environment's deployment record as stored, parsed; undefined when there is none. */
export async function readRecord(s3: S3Server, bucket: string, environment: string): Promise<Json | undefined> {
  const body = await s3.getObject(bucket, recordKey(environment));
  return body === undefined ? undefined : JSON.parse(body.toString('utf8'));
}

/** What a stop that removed everything leaves: exit 0, no lambda or endpoint, no record. */
export const NOTHING_LEFT = { code: 0, lambdas: [], endpoints: [], record: undefined };

/**
 * Runs stop as a stop job does (no checkout: an empty project dir) and returns what is left next to the
 * output, for `expect(left, output).toEqual(NOTHING_LEFT)`.
 */
export async function stopAndLook(
  env: Record<string, string>,
  s3: S3Server,
  bucket: string,
  environment: string,
  look: () => { lambdas: string[]; endpoints: string[] },
): Promise<{ left: { code: number; lambdas: string[]; endpoints: string[]; record: Json }; output: string }> {
  const empty = await makeProject({});
  const stop = await runCli(['stop'], { env: { ...env, CI_PROJECT_DIR: empty }, cwd: empty });
  return { left: { code: stop.code, ...look(), record: await readRecord(s3, bucket, environment) }, output: stop.output };
}

export const metaLeft = (meta: MetaEmulator) => () => ({ lambdas: meta.lambdas().map((l) => l.name), endpoints: meta.endpoints().map((e) => e.id) });
export const gatewayLeft = (gateway: GatewayFake) => () => ({ lambdas: [...gateway.lambdas().keys()], endpoints: [...gateway.endpoints().values()].flat() });

// ---- worlds: a stand-in seeded the way the job variables below expect ------------------------------------------

export interface MetaWorld {
  meta: MetaEmulator;
  envId: string;
  providerId: string;
  /** Job variables that reach this emulator at `metaUrl` (the emulator itself, or a proxy in front of it). */
  vars(metaUrl?: string): Record<string, string>;
  close(): Promise<void>;
}

export async function startMetaWorld(secret: string): Promise<MetaWorld> {
  const meta = await startMetaEmulator({ apiKeys: { [API_KEY]: secret }, gatewayUrl: GATEWAY_BASE });
  const envId = meta.seedEnvironment({ name: 'dev' });
  meta.seedApi(envId, { name: API });
  const providerId = meta.seedLambdaProvider();
  return {
    meta,
    envId,
    providerId,
    vars: (metaUrl = meta.url) => ({
      GESTALT_META_URL: metaUrl,
      GESTALT_ORG: 'root',
      GESTALT_LAMBDA_PROVIDER_ID: providerId,
      GF_API_KEY: API_KEY,
      GF_API_SECRET: secret,
      LAMBDA_ARTIFACTS: 'dist/*.zip',
      LAMBDA_RUNTIME: 'nodejs',
      LAMBDA_HANDLER: 'index.handler',
      LAMBDA_API: API,
      LAMBDA_ENVIRONMENT_ID: envId,
    }),
    close: () => meta.close(),
  };
}

export interface GatewayWorld {
  gateway: GatewayFake;
  vars(baseUrl?: string): Record<string, string>;
  close(): Promise<void>;
}

export async function startGatewayWorld(envId: string): Promise<GatewayWorld> {
  const gateway = await startGatewayFake({ gatewayUrl: GATEWAY_BASE });
  gateway.knownApis.add(API);
  const base = gateway.url.replace(/\/deploy$/, '');
  return {
    gateway,
    vars: (baseUrl = base) => ({
      CI_URL: `${baseUrl}/deploy`,
      LAMBDA_ARTIFACTS: 'dist/*.zip',
      LAMBDA_RUNTIME: 'nodejs',
      LAMBDA_API: API,
      LAMBDA_ENVIRONMENT_ID: envId,
    }),
    close: () => gateway.close(),
  };
}

// ---- meta mode --------------------------------------------------------------------------------------------------

/** Two lambdas with one name, or two endpoints for one lambda. */
export function metaDuplicates(meta: MetaEmulator): string[] {
  const problems: string[] = [];
  const byName = countBy(meta.lambdas(), (l) => l.name);
  for (const [name, n] of byName) if (n > 1) problems.push(`${n} lambdas are named ${name}`);
  const byLambda = countBy(meta.endpoints(), (e) => String(e.properties?.implementation_id));
  for (const [id, n] of byLambda) if (n > 1) problems.push(`${n} endpoints implement lambda ${id}`);
  return problems;
}

/** Every lambda and endpoint that exists is named by the record, so a stop can remove it. */
export function metaRecordCovers(record: Json | undefined, meta: MetaEmulator): string[] {
  const lambdas = meta.lambdas();
  const endpoints = meta.endpoints();
  if (record === undefined) {
    return lambdas.length + endpoints.length > 0 ? [`no record, but ${lambdas.length} lambda(s) and ${endpoints.length} endpoint(s) exist`] : [];
  }
  const problems = recordShape(record);
  const entries: Json[] = Array.isArray(record.functions) ? record.functions : [];
  const byId = new Map(entries.filter((f) => f?.id).map((f) => [f.id, f]));
  for (const l of lambdas) {
    const entry = byId.get(l.id);
    if (!entry) problems.push(`lambda ${l.name} (${l.id}) exists but the record does not name it`);
    else if (entry.name !== l.name) problems.push(`the record names lambda ${l.id} '${entry.name}', Meta '${l.name}'`);
  }
  for (const e of endpoints) {
    const implId = String(e.properties?.implementation_id);
    if (!byId.has(implId)) problems.push(`endpoint ${e.id} of lambda ${implId} exists but the record names no such lambda`);
  }
  for (const entry of entries.filter((f) => f?.state === 'deployed')) {
    const lambda = lambdas.find((l) => l.id === entry.id);
    if (!lambda) {
      problems.push(`the record says ${entry.name} (${entry.id}) is deployed, but no such lambda exists`);
      continue;
    }
    const actual = endpoints.filter((e) => e.properties?.implementation_id === entry.id).map((e) => e.id);
    if (actual.length === 0) problems.push(`the record says ${entry.name} is deployed, but it has no endpoint`);
    const missing = actual.filter((id) => !(entry.endpointIds ?? []).includes(id));
    if (missing.length) problems.push(`the record's endpointIds of ${entry.name} miss ${missing.join(', ')}`);
  }
  return problems;
}

/**
 * The report says what exists: one line per function of the run; a success line names a lambda that exists
 * (id, name) with its endpoint and that endpoint's URL; a failed line carries an error; and the record agrees
 * (deployed exactly where the report says success, same id). For a cancelled run (`complete: false`) lines
 * of functions it never got to may be missing or carry no error; what it does claim must still be true.
 */
export function metaReportMatches(report: Json | undefined, names: string[], meta: MetaEmulator, record: Json | undefined, complete = true): string[] {
  if (!report) return ['no gestalt-deploy.json was written'];
  const problems = reportLines(report, names, complete);
  const lambdas = meta.lambdas();
  const endpoints = meta.endpoints();
  for (const line of report.functions ?? []) {
    if (isSuccess(line)) {
      const lambda = lambdas.find((l) => l.id === line.id);
      if (!lambda || lambda.name !== line.name) {
        problems.push(`the report says ${line.name} is ${line.action} as ${line.id}, but Meta has no such lambda`);
        continue;
      }
      const endpoint = endpoints.find((e) => e.properties?.implementation_id === line.id);
      if (!endpoint) problems.push(`the report says ${line.name} is ${line.action}, but it has no endpoint`);
      else if (line.url !== endpoint.properties?.public_url) problems.push(`the report gives ${line.name} the URL ${line.url}, its endpoint has ${endpoint.properties?.public_url}`);
    }
    problems.push(...agreesWithRecord(line, record, true));
  }
  return problems;
}

/**
 * Per run: every lambda and endpoint create carries a UUID v4 `id` and this job's ownership mark; a create
 * sent again for the same resource carries the same id, and is preceded by a GET of that id (the lookup that
 * tells a lost answer from a failed create).
 */
export function metaCreatesAreIdempotent(requests: { method: string; path: string; body: unknown }[], project: string, environment: string): string[] {
  const noId: string[] = [];
  const noMark: string[] = [];
  const problems: string[] = [];
  const ids = new Map<string, string>();
  const lastPost = new Map<string, number>();
  let creates = 0;
  requests.forEach((r, i) => {
    const path = r.path.split('?')[0] ?? '';
    const kind = r.method !== 'POST' ? undefined : /\/lambdas$/.test(path) ? 'lambda' : /\/apiendpoints$/.test(path) ? 'endpoint' : undefined;
    if (!kind) return;
    creates += 1;
    const body = (typeof r.body === 'string' ? safeJson(r.body) : r.body) as Json;
    const what = `${kind} create for ${body?.name}`;
    if (!UUID_V4.test(String(body?.id ?? ''))) noId.push(`${what} (id: ${JSON.stringify(body?.id)})`);
    const marks = body?.variables ?? {};
    if (marks[MARK_PROJECT] !== project || marks[MARK_ENVIRONMENT] !== environment) noMark.push(`${what} (variables: ${JSON.stringify(body?.variables)})`);
    const key = `${kind} ${body?.name}`;
    const first = ids.get(key);
    if (first === undefined) ids.set(key, String(body?.id));
    else if (first !== String(body?.id)) problems.push(`${what} was sent again with another id (${first}, then ${body?.id})`);
    const previous = lastPost.get(key);
    if (previous !== undefined && body?.id) {
      const looked = requests.slice(previous + 1, i).some((g) => g.method === 'GET' && g.path.includes(String(body.id)));
      if (!looked) problems.push(`${what} was sent again without a GET of ${body.id} first`);
    }
    lastPost.set(key, i);
  });
  const summary = (list: string[], what: string) => (list.length ? [`${list.length} of ${creates} creates ${what}, e.g. ${list.slice(0, 2).join('; ')}`] : []);
  return [...summary(noId, 'have no UUID v4 id'), ...summary(noMark, `do not carry the mark ${project} / ${environment}`), ...problems];
}

// ---- gateway mode -----------------------------------------------------------------------------------------------

/** Gateway mode can't list: the record is the only way stop finds a function, so it must name each one. */
export function gatewayRecordCovers(record: Json | undefined, gateway: GatewayFake): string[] {
  const names = new Set([...gateway.lambdas().keys(), ...[...gateway.endpoints().values()].flat()]);
  if (record === undefined) return names.size > 0 ? [`no record, but ${names.size} function(s) exist behind the deployment lambda`] : [];
  const problems = recordShape(record);
  const recorded = new Set((record.functions ?? []).map((f: Json) => f?.name));
  for (const n of names) if (!recorded.has(n)) problems.push(`${n} exists behind the deployment lambda but the record does not name it`);
  for (const entry of (record.functions ?? []).filter((f: Json) => f?.state === 'deployed')) {
    if (!gateway.lambdas().has(entry.name)) problems.push(`the record says ${entry.name} is deployed, but the deployment lambda has no such lambda`);
  }
  return problems;
}

export function gatewayReportMatches(report: Json | undefined, names: string[], gateway: GatewayFake, record: Json | undefined): string[] {
  if (!report) return ['no gestalt-deploy.json was written'];
  const problems = reportLines(report, names);
  const lambdas = gateway.lambdas();
  for (const line of report.functions ?? []) {
    if (isSuccess(line)) {
      if (!lambdas.has(line.name)) problems.push(`the report says ${line.name} is ${line.action}, but the deployment lambda has no such lambda`);
      const url = `${GATEWAY_BASE}/${API}/${line.name}`;
      if (line.url !== url) problems.push(`the report gives ${line.name} the URL ${line.url}, the deployment lambda answered ${url}`);
    }
    problems.push(...agreesWithRecord(line, record, false));
  }
  return problems;
}

/**
 * The original deployment lambda looks a lambda up by name and then creates it: two deploy POSTs for one file
 * in progress at once (from arrival until the upstream answered) can both create it. A retry of a POST that
 * timed out is exactly that when the first one is merely slow.
 */
export function gatewayOverlappingDeploys(requests: { method: string; body: string; outcome: string; arrivedAt: number; answeredAt?: number; seq: number }[]): string[] {
  const problems: string[] = [];
  const deploys = requests
    .filter((r) => r.method === 'POST' && r.outcome !== 'transient')
    .map((r) => ({ r, body: safeJson(r.body) as Json }))
    .filter(({ body }) => body && body.action !== 'stop');
  for (const [i, a] of deploys.entries()) {
    for (const b of deploys.slice(i + 1)) {
      if (a.body.file !== b.body.file) continue;
      const aEnd = a.r.answeredAt ?? Infinity;
      const bEnd = b.r.answeredAt ?? Infinity;
      if (a.r.arrivedAt < bEnd && b.r.arrivedAt < aEnd) {
        problems.push(`two deploy POSTs for ${a.body.file} were in progress at once (requests #${a.r.seq} ${a.r.outcome} and #${b.r.seq} ${b.r.outcome})`);
      }
    }
  }
  return problems;
}

// ---- shared -----------------------------------------------------------------------------------------------------

const STATES = ['pending', 'deployed', 'failed'];

function recordShape(record: Json): string[] {
  const problems: string[] = [];
  if (record.schema !== 2) problems.push(`the record has schema ${JSON.stringify(record.schema)}, not 2`);
  const stateless = (record.functions ?? []).filter((f: Json) => !STATES.includes(f?.state));
  if (stateless.length) problems.push(`${stateless.length} record entries have no state pending/deployed/failed, e.g. ${stateless[0]?.name} (state: ${JSON.stringify(stateless[0]?.state)})`);
  return problems;
}

function reportLines(report: Json, names: string[], complete = true): string[] {
  const problems: string[] = [];
  const lines: Json[] = report.functions ?? [];
  for (const n of names) {
    const count = lines.filter((l) => l.name === n).length;
    if (count > 1 || (complete && count === 0)) problems.push(`the report has ${count} lines for ${n}`);
  }
  if (complete) for (const l of lines) if (!isSuccess(l) && !l.error) problems.push(`the report says ${l.name} is ${l.action} without an error`);
  return problems;
}

function agreesWithRecord(line: Json, record: Json | undefined, byId: boolean): string[] {
  if (record === undefined) return [];
  // Meta mode: a failed line without an id provably created nothing (never started, or its chosen id is absent).
  if (byId && !line.id && !isSuccess(line)) return [];
  const entries: Json[] = (record.functions ?? []).filter((f: Json) => f?.name === line.name && (!byId || !line.id || f.id === line.id));
  if (entries.length === 0) return [`the report has ${line.name}${line.id ? ` (${line.id})` : ''}, the record does not`];
  if (!entries.every((f) => STATES.includes(f.state))) return []; // recordShape reports those
  const deployed = entries.some((f) => f.state === 'deployed');
  if (isSuccess(line) !== deployed) return [`the report says ${line.name} is ${line.action}, the record says ${entries.map((f) => f.state).join('/')}`];
  return [];
}

function countBy<T>(items: T[], key: (item: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
