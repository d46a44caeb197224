import type { PackagedFunction } from '../artifacts/functions.js';
import type { Config } from '../config/types.js';
import { EXIT, errorMessage, type ExitCode } from '../errors.js';
import { NothingCreated, type Claim, type DeployResult, type GestaltSession } from '../gestalt/types.js';
import { formatBytes } from '../log/format.js';
import type { Logger } from '../log/logger.js';
import { cancellation } from '../net/cancel.js';
import { mapLimit } from '../net/pool.js';
import { RunJournal } from '../record/journal.js';
import type { RecordedFunction } from '../record/types.js';
import type { FunctionReport } from '../reports/types.js';
import { packageKey } from '../storage/packages.js';
import { cancelledExit, openDeployment, recordHeader, timed, type RunContext } from './context.js';
import { withReport } from './report.js';

interface Staged {
  fn: PackagedFunction;
  key: string;
  claim: Claim;
  previous?: RecordedFunction;
  url?: string;
  bytesUploaded: number;
  upload: 'uploaded' | 'skipped';
  /** Set once a Gestalt write for it may have started: from then on only its outcome goes in the record. */
  touched?: boolean;
  /** The deploy failed and provably created nothing. */
  nothingCreated?: boolean;
  error?: string;
  result?: DeployResult;
}

export async function runDeploy(config: Config, env: Record<string, string | undefined>, log: Logger): Promise<ExitCode> {
  return withReport(config, 'deploy', log, async (report) => {
    const timings = report.timingsMs;
    const { functions, ctx, version, session } = await openDeployment(config, env, log, report, 'deploy');
    const previous = version.record;
    const staged: Staged[] = functions.map((fn) => ({
      fn,
      key: packageKey(config.storage, fn.sha256, fn.file),
      claim: session.claim(fn),
      previous: previous?.functions.find((f) => f.name === fn.name && f.state === 'deployed'),
      bytesUploaded: 0,
      upload: 'skipped',
    }));
    const journal = new RunJournal(ctx.records, recordHeader(config), version, (id) => session.mayExist(id));
    try {
      for (const s of staged) if (s.claim.refused) s.error = `Refused to deploy '${s.fn.name}': ${s.claim.refused}.`;
      cancellation.throwIfRequested();
      // Before anything is created: the record names every function this run may create, with its ids.
      await timed(timings, 'record', () => journal.begin(staged.filter((s) => !s.error).map((s) => entry(s, 'pending'))));
      await timed(timings, 'upload', () => log.section('upload', `Upload to s3://${config.storage.bucket}/${config.storage.prefix}/packages/`, () => upload(ctx, staged)));
      await timed(timings, 'deploy', () => log.section('deploy', `Deploy ${functions.length} function(s)`, () => deployAll(ctx, session, staged, journal)));
    } finally {
      // Functions that never reached Gestalt: what the record said before stays true.
      for (const s of staged) {
        if (s.touched || s.claim.refused) continue;
        if (s.previous) journal.settle(s.previous);
        else journal.forget(entry(s, 'pending'));
      }
      report.functions = staged.map(toReport);
      await timed(timings, 'record', async () => {
        try {
          await journal.end();
          log.info(`Deployment record: ${ctx.records.uri(config.job.environment)}`);
        } catch (err) {
          report.recordWritten = false;
          report.errors.push(errorMessage(err));
          log.error(errorMessage(err));
        }
      });
    }
    if (cancellation.signal) return cancelledExit(report, log);
    return report.functions.some((f) => f.error) || report.recordWritten === false ? EXIT.remote : EXIT.ok;
  });
}

async function upload(ctx: RunContext, staged: Staged[]): Promise<void> {
  const { packages, config, log, identity } = ctx;
  const signedUntil = Date.now() + config.storage.presignSeconds * 1000;
  if (config.storage.access === 'presigned' && identity.expiration && identity.expiration.getTime() < signedUntil) {
    // A URL signed with temporary credentials dies with them, whatever X-Amz-Expires says.
    log.warn(`presigned package URLs stop working when these temporary credentials expire (${identity.expiration.toISOString()}); Gestalt must fetch the packages before then, or use GESTALT_PACKAGE_ACCESS=private with a bucket policy.`);
  }
  await mapLimit(
    staged.filter((s) => !s.error),
    config.concurrency,
    async (s) => {
      const { fn, key } = s;
      try {
        const state = await packages.state(key, fn.size);
        cancellation.throwIfRequested();
        if (state === 'absent') {
          await packages.upload(key, fn.absPath, fn.sha256);
          s.upload = 'uploaded';
          s.bytesUploaded = fn.size;
          log.info(`  uploaded ${fn.relPath} (${formatBytes(fn.size)}) → ${key}`);
        } else {
          if (config.storage.access === 'public') await packages.makePublic(key);
          log.info(`  unchanged ${fn.relPath}: ${key} already present, not uploaded`);
        }
        s.url = await packages.url(key);
      } catch (err) {
        s.error = errorMessage(err);
        log.error(s.error);
      }
    },
    { shouldStop: () => cancellation.signal !== undefined, skipped: (s) => void (s.error = cancelledText()) },
  );
}

async function deployAll(ctx: RunContext, session: GestaltSession, staged: Staged[], journal: RunJournal): Promise<void> {
  const { config, log } = ctx;
  await mapLimit(
    staged.filter((s) => !s.error && s.url),
    config.concurrency,
    async (s) => {
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
    },
    { shouldStop: () => cancellation.signal !== undefined, skipped: (s) => void (s.error = cancelledText()) },
  );
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
    error: s.error,
  };
}
