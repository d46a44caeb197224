import type { Config } from '../config/types.js';
import { EXIT, type ExitCode } from '../errors.js';
import { formatBytes, formatTable } from '../log/format.js';
import type { Logger } from '../log/logger.js';
import { mapLimit } from '../net/pool.js';
import type { FunctionReport } from '../reports/types.js';
import { packageKey } from '../storage/packages.js';
import { openDeployment, timed } from './context.js';
import { reviewedState } from './plan-check.js';
import { withReport } from './report.js';

/** Everything deploy would do, read-only: S3 HEADs, the record, and the target's lookups. */
export async function runPlan(config: Config, env: Record<string, string | undefined>, log: Logger): Promise<ExitCode> {
  return withReport(config, 'plan', log, async (report) => {
    const timings = report.timingsMs;
    const { functions, ctx, version, session } = await openDeployment(config, env, log, report, 'plan');
    const previous = version.record;
    report.functions = await timed(timings, 'plan', () =>
      mapLimit(functions, config.concurrency, async (fn): Promise<FunctionReport> => {
        const key = packageKey(config.storage, fn.sha256, fn.file);
        const state = await ctx.packages.state(key, fn);
        const plan = await session.plan({ fn, packageKey: key, packageUrl: await ctx.packages.url(key), previous: previous?.functions.find((f) => f.name === fn.name) });
        return { name: fn.name, file: fn.relPath, action: plan.action, endpoint: plan.endpoint, packageKey: key, sha256: fn.sha256, size: fn.size, upload: state === 'absent' ? 'would upload' : 'would skip', changed: plan.changed, ...(plan.changes?.length ? { changes: plan.changes } : {}), error: plan.refused };
      }),
    );
    report.reviewed = reviewedState(config, functions, session, version);
    const stale = (previous?.functions ?? []).filter((f) => !functions.some((fn) => fn.name === f.name));
    for (const f of stale) report.functions.push({ name: f.name, file: f.file, action: 'keep (not in this deploy; removed by stop)', packageKey: f.packageKey, sha256: f.sha256 });
    const rows = report.functions.map((f) => [f.name, f.upload ? `${f.upload}${f.upload === 'would upload' && f.size ? ` ${formatBytes(f.size)}` : ''}` : '', f.action, (f.changes?.map((c) => c.field) ?? f.changed ?? []).join(', '), f.endpoint ?? '']);
    log.info(`\nPlan for environment '${config.job.environment}' (${ctx.target.label}); nothing was changed:\n`);
    log.info(formatTable(['function', 'package', 'action', 'changes', 'endpoint'], rows));
    const changed = report.functions.filter((f) => f.changes?.length);
    if (changed.length > 0) log.info('\nChanges (current → new):');
    for (const f of changed) for (const c of f.changes ?? []) log.info(`  ${f.name}  ${c.field}: ${c.from} → ${c.to}`);
    return EXIT.ok;
  });
}
