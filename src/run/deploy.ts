import type { PackagedFunction } from '../artifacts/functions.js';
import type { Config } from '../config/types.js';
import { EXIT, errorMessage, type ExitCode } from '../errors.js';
import { NothingCreated, gestaltConcurrency, type Claim, type DeployResult, type GestaltSession } from '../gestalt/types.js';
import type { Logger } from '../log/logger.js';
import { cancellation } from '../net/cancel.js';
import { gate } from '../net/pool.js';
import { RunJournal } from '../record/journal.js';
import type { DeploymentRecord, RecordedFunction } from '../record/types.js';
import type { RecordVersion } from '../record/store.js';
import { historyFunction, newEntry, reportedEntry } from '../history/entry.js';
import type { HistoryCommand, HistoryEntry } from '../history/types.js';
import type { HistoryVersion } from '../history/store.js';
import type { FunctionReport, RunReport } from '../reports/types.js';
import { CREATE_ONLY_MAX_BYTES, packageKey } from '../storage/packages.js';
import { uploadProgress, uploadSummary } from '../storage/progress.js';
import { cancelledExit, openDeployment, recordHeader, timed, type RunContext } from './context.js';
import { removeRecorded } from './remove.js';
import { withReport } from './report.js';
import { PhaseClock } from './phases.js';
import { checkPlan, reviewedState } from './plan-check.js';

interface Staged {
  fn: PackagedFunction;
  key: string;
  claim: Claim;
  previous?: RecordedFunction;
  url?: string;
  bytesUploaded: number;
  upload: 'uploaded' | 'skipped';
  /** Its own time in each phase. */
  timings: Record<string, number>;
  /** Set once a Gestalt write for it may have started: from then on only its outcome goes in the record. */
  touched?: boolean;
  /** The deploy failed and provably created nothing. */
  nothingCreated?: boolean;
  error?: string;
  result?: DeployResult;
}

export async function runDeploy(config: Config, env: Record<string, string | undefined>, log: Logger): Promise<ExitCode> {
  return withReport(config, 'deploy', log, async (report) => {
    const { functions, ctx, version, session } = await openDeployment(config, env, log, report, 'deploy');
    // A reviewed plan: after the lookups, before the record and the first upload; any difference changes nothing.
    if (config.lifecycle.planFile) await checkPlan(config.lifecycle.planFile, reviewedState(config, functions, session, version), log);
    return converge({ report, ctx, version, session, functions, command: 'deploy' });
  });
}

/** What deploy, rollback and promote share: bring the environment to `functions`, record it, add a history entry. */
export interface Convergence {
  report: RunReport;
  ctx: RunContext;
  version: RecordVersion;
  session: GestaltSession;
  functions: PackagedFunction[];
  command: HistoryCommand;
  /** rollback/promote: the packages were verified present in S3 beforehand, so nothing is uploaded. */
  packagesInPlace?: boolean;
  /** rollback: functions of the record that are not in `functions` are removed (with the ownership checks). */
  removeOthers?: boolean;
  /** For the history entry: what a rollback restored or a promote came from, and the commit its code is from. */
  from?: { label: string; sha: string; ref: string };
}

export async function converge(input: Convergence): Promise<ExitCode> {
  const { report, ctx, version, session, functions } = input;
  const { config, log } = ctx;
  const timings = report.timingsMs;
  const previous = version.record;
  const staged: Staged[] = functions.map((fn) => ({
    fn,
    key: packageKey(config.storage, fn.sha256, fn.file),
    claim: session.claim(fn),
    previous: previous?.functions.find((f) => f.name === fn.name && f.state === 'deployed'),
    bytesUploaded: 0,
    upload: 'skipped',
    timings: {},
  }));
  const journal = new RunJournal(ctx.records, recordHeader(config), version, (id) => session.mayExist(id));
  const removals: FunctionReport[] = [];
  const clock = new PhaseClock();
  // Read while the packages upload: the entry appended at the end then costs one write.
  const historyAhead = ctx.history.readAhead(config.job.environment);
  try {
    for (const s of staged) if (s.claim.refused) s.error = `Refused to deploy '${s.fn.name}': ${s.claim.refused}.`;
    cancellation.throwIfRequested();
    const live = staged.filter((s) => !s.error);
    // Before anything is created: the record names every function this run may create, with its ids. Packages
    // are not Gestalt state, so they upload while it is written; no Gestalt write starts before it is in S3.
    const begun = timed(timings, 'record', () => journal.begin(live.map((s) => entry(s, 'pending'))));
    begun.catch(() => undefined); // awaited below, once the pipeline has stopped
    const title = input.packagesInPlace ? `Deploy ${functions.length} function(s)` : `Upload to s3://${config.storage.bucket}/${config.storage.prefix}/packages/ and deploy ${functions.length} function(s)`;
    await log.section('deploy', title, () => pipeline(ctx, session, live, { journal, begun, clock, inPlace: input.packagesInPlace === true }));
    // The record's own failure is the run's failure (nothing reached Gestalt then).
    await begun;
    if (input.removeOthers && previous && !staged.some((s) => s.error)) {
      const others = previous.functions.filter((f) => !functions.some((fn) => fn.name === f.name));
      if (others.length > 0) removals.push(...(await timed(timings, 'remove', () => log.section('remove', `Remove ${others.length} function(s) not in that deployment`, () => removeAll(ctx, session, previous, others, journal)))));
    }
  } finally {
    // Functions that never reached Gestalt: what the record said before stays true.
    for (const s of staged) {
      if (s.touched || s.claim.refused) continue;
      if (s.previous) journal.settle(s.previous);
      else journal.forget(entry(s, 'pending'));
    }
    clock.writeTo(report);
    report.functions = [...staged.map(toReport), ...removals];
    await timed(timings, 'record', async () => {
      try {
        await journal.end();
        if (journal.exists) log.info(`Deployment record: ${ctx.records.uri(config.job.environment)}`);
      } catch (err) {
        report.recordWritten = false;
        report.errors.push(errorMessage(err));
        log.error(errorMessage(err));
      }
    });
    // The report (and so the dotenv) names the record only when there is one in S3.
    if (journal.exists) report.record = ctx.records.uri(config.job.environment);
  }
  if (cancellation.signal) return cancelledExit(report, log);
  if (report.functions.some((f) => f.error) || report.recordWritten === false) return EXIT.remote;
  return addHistory(ctx, report, newEntry(config, input.command, staged.map((s) => historyFunction(s.fn, s.key)), input.from), historyAhead);
}

/** Only a deployment that fully succeeded becomes a history entry: rollback must never land on a half-done one. */
async function addHistory(ctx: RunContext, report: RunReport, e: Omit<HistoryEntry, 'number'>, ahead: Promise<HistoryVersion | undefined>): Promise<ExitCode> {
  try {
    const added = await timed(report.timingsMs, 'history', () => ctx.history.append(ctx.config.job.environment, e, ahead));
    report.history = [reportedEntry(added)];
    ctx.log.info(`History: entry #${added.number} (${added.command}) in ${ctx.history.uri(ctx.config.job.environment)}`);
    return EXIT.ok;
  } catch (err) {
    report.errors.push(`deployed, but the history entry was not written: ${errorMessage(err)}`);
    ctx.log.error(report.errors[report.errors.length - 1] as string);
    return EXIT.remote;
  }
}

/** Functions the restored deployment lacks: removed with the ownership checks, and out of the record once gone. */
async function removeAll(ctx: RunContext, session: GestaltSession, record: DeploymentRecord, others: RecordedFunction[], journal: RunJournal): Promise<FunctionReport[]> {
  const results = await removeRecorded(ctx, session, record, others);
  for (const r of results) if (!r.line.error) journal.forget(r.fn);
  return results.map((r) => r.line);
}

interface Pipeline {
  journal: RunJournal;
  /** The record's first write: every Gestalt write waits for it. */
  begun: Promise<void>;
  clock: PhaseClock;
  inPlace: boolean;
}

/**
 * Each function goes on to Gestalt as soon as its own package is in S3, instead of every upload waiting for
 * the slowest and every deploy for the last upload. S3 and Gestalt each get their own gate of
 * GESTALT_CONCURRENCY (Gestalt's capped by gestaltConcurrency), so a large package uploading never holds back the
 * writes of the small ones.
 */
async function pipeline(ctx: RunContext, session: GestaltSession, live: Staged[], p: Pipeline): Promise<void> {
  const { config, log, identity } = ctx;
  const signedUntil = Date.now() + config.storage.presignSeconds * 1000;
  if (config.storage.access === 'presigned' && identity.expiration && identity.expiration.getTime() < signedUntil) {
    // A URL signed with temporary credentials dies with them, whatever X-Amz-Expires says.
    log.warn(`presigned package URLs stop working when these temporary credentials expire (${identity.expiration.toISOString()}); Gestalt must fetch the packages before then, or use GESTALT_PACKAGE_ACCESS=private with a bucket policy.`);
  }
  let recordFailed = false;
  p.begun.catch(() => void (recordFailed = true));
  // Nothing new starts once the job is cancelled or the record could not be written.
  const halted = () => (cancellation.signal ? cancelledText() : recordFailed ? 'not deployed: the deployment record could not be written first' : undefined);
  const s3Gate = gate(config.concurrency);
  const gestaltGate = gate(gestaltConcurrency(config.concurrency));
  await Promise.all(
    live.map(async (s) => {
      await s3Gate(async () => {
        s.error ??= halted();
        if (!s.error) await p.clock.time('upload', s.timings, () => uploadOne(ctx, s, p.inPlace));
      });
      if (s.error) return;
      await p.begun.catch(() => undefined);
      await gestaltGate(async () => {
        s.error ??= halted();
        if (!s.error) await p.clock.time('deploy', s.timings, () => deployOne(ctx, session, s, p.journal));
      });
    }),
  );
}

/** The package in S3 (uploaded unless its bytes are there already) and the URL Gestalt fetches it from. */
async function uploadOne(ctx: RunContext, s: Staged, inPlace: boolean): Promise<void> {
  const { packages, config, log } = ctx;
  const { fn, key } = s;
  const started = performance.now();
  const uploaded = () => {
    s.upload = 'uploaded';
    s.bytesUploaded = fn.size;
    log.info(`  uploaded ${fn.relPath} (${uploadSummary(fn.size, performance.now() - started)}) → ${key}`);
  };
  try {
    // A small package this environment has not deployed before is most likely new: create it in one call.
    const createFirst = !inPlace && s.previous?.packageKey !== key && fn.partSha256.length <= 1 && fn.size <= CREATE_ONLY_MAX_BYTES;
    if (createFirst && (await packages.createIfAbsent(key, fn)) === 'uploaded') uploaded();
    else if ((inPlace ? 'present' : await packages.state(key, fn)) === 'absent') {
      cancellation.throwIfRequested();
      await packages.upload(key, fn, uploadProgress({ label: fn.relPath, total: fn.size, write: (line) => log.info(line) }));
      uploaded();
    } else {
      if (config.storage.access === 'public') await packages.makePublic(key);
      log.info(`  ${inPlace ? 'recorded' : 'unchanged'} ${fn.relPath}: ${key} already present, not uploaded`);
    }
    s.url = await packages.url(key);
  } catch (err) {
    s.error = errorMessage(err);
    log.error(s.error);
  }
}

async function deployOne(ctx: RunContext, session: GestaltSession, s: Staged, journal: RunJournal): Promise<void> {
  const { log } = ctx;
  s.touched = true;
  try {
    s.result = await session.deploy({ fn: s.fn, packageKey: s.key, packageUrl: s.url as string, previous: s.previous, claim: s.claim });
    log.info(`  ${s.fn.name}: ${s.result.action}${s.result.changed?.length ? ` (${s.result.changed.join(', ')})` : ''}, endpoint ${s.result.endpoint}${s.result.url ? ` → ${s.result.url}` : ''}`);
    for (const c of s.result.changes ?? []) log.info(`    ${c.field}: ${c.from} → ${c.to}`);
    journal.settle(entry(s, 'deployed'));
  } catch (err) {
    s.error = errorMessage(err);
    log.error(s.error);
    if (err instanceof NothingCreated) {
      s.nothingCreated = true;
      // Provably nothing new in Gestalt: the record says what it said before.
      if (s.previous) journal.settle(s.previous);
      else journal.forget(entry(s, 'pending'));
    } else {
      // It may exist partly (a lambda without its endpoint, or a create still landing): keep its ids.
      journal.settle({ ...entry(s, 'failed'), error: s.error });
    }
  }
}

function cancelledText(): string {
  return `not started: the job was cancelled (${cancellation.signal})`;
}

function entry(s: Staged, state: RecordedFunction['state']): RecordedFunction {
  return {
    name: s.fn.name,
    file: s.fn.file,
    runtime: s.fn.runtime,
    handler: s.fn.handler,
    packageKey: s.key,
    sha256: s.fn.sha256,
    url: s.result?.url,
    id: s.result?.id ?? s.claim.id,
    endpointIds: s.result?.endpointIds ?? s.claim.endpointIds,
    deployedAt: new Date().toISOString(),
    state,
  };
}

function toReport(s: Staged): FunctionReport {
  return {
    name: s.fn.name,
    file: s.fn.relPath,
    action: s.error ? 'failed' : (s.result?.action ?? 'failed'),
    endpoint: s.result?.endpoint,
    packageKey: s.key,
    sha256: s.fn.sha256,
    size: s.fn.size,
    upload: s.upload,
    bytesUploaded: s.bytesUploaded,
    url: s.result?.url,
    id: s.result?.id ?? (s.touched && !s.nothingCreated ? s.claim.id : undefined),
    changed: s.result?.changed,
    changes: s.result?.changes,
    ...(Object.keys(s.timings).length ? { timingsMs: s.timings } : {}),
    error: s.error,
  };
}
