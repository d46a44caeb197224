import type { Config } from '../config/types.js';
import { EXIT, errorMessage, type ExitCode } from '../errors.js';
import { formatTable, type Logger } from '../log/logger.js';
import { mapLimit } from '../net/pool.js';
import type { FunctionReport } from '../reports/types.js';
import { formatBytes, writeReports } from '../reports/write.js';
import { packageKey } from '../storage/packages.js';
import { openContext, timed } from './context.js';
import { collectFunctions } from './functions.js';
import { finishReport, startReport } from './report.js';

/** Everything deploy would do, read-only: S3 HEADs, the record, and the target's lookups. */
export async function runPlan(config: Config, env: Record<string, string | undefined>, log: Logger): Promise<ExitCode> {
  const report = startReport(config, 'plan');
  const timings = report.timingsMs;
  const functions = await timed(timings, 'artifacts', () => collectFunctions(config, env, log));
  try {
    const ctx = await openContext(config, log, timings);
    report.record = ctx.records.uri(config.job.environment);
    const placement = { api: config.api as string, environmentId: config.environmentId as string };
    const [previous] = await Promise.all([ctx.records.read(config.job.environment), ctx.target.prepare(placement, 'plan')]);
    report.functions = await timed(timings, 'plan', () =>
      mapLimit(functions, config.concurrency, async (fn): Promise<FunctionReport> => {
        const key = packageKey(config.storage, fn.sha256, fn.file);
        const state = await ctx.packages.state(key, fn);
        const plan = await ctx.target.plan({ fn, packageKey: key, packageUrl: await ctx.packages.url(key), previous: previous?.functions.find((f) => f.name === fn.name) });
        return { name: fn.name, file: fn.relPath, action: plan.action, endpoint: plan.endpoint, packageKey: key, sha256: fn.sha256, size: fn.size, upload: state === 'absent' ? 'would upload' : 'would skip', changed: plan.changed };
      }),
    );
    const stale = (previous?.functions ?? []).filter((f) => !functions.some((fn) => fn.name === f.name));
    for (const f of stale) report.functions.push({ name: f.name, file: f.file, action: 'keep (not in this deploy; removed by stop)', packageKey: f.packageKey, sha256: f.sha256 });
    const rows = report.functions.map((f) => [f.name, f.upload ? `${f.upload}${f.upload === 'would upload' && f.size ? ` ${formatBytes(f.size)}` : ''}` : '', f.action, f.changed?.join(', ') ?? '', f.endpoint ?? '']);
    log.info(`\nPlan for environment '${config.job.environment}' (${ctx.target.label}); nothing was changed:\n`);
    log.info(formatTable(['function', 'package', 'action', 'changes', 'endpoint'], rows));
    return EXIT.ok;
  } catch (err) {
    report.errors.push(errorMessage(err));
    throw err;
  } finally {
    finishReport(report);
    await writeReports(config.outputDir, report);
  }
}
