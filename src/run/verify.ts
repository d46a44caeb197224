import type { Config } from '../config/types.js';
import { EXIT, errorMessage, type ExitCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { createHttpClient, type HttpRequest } from '../net/http.js';
import { mapLimit } from '../net/pool.js';
import { withRetry } from '../net/retry.js';
import type { VerifyCheck } from '../reports/types.js';
import { formatTable } from '../log/format.js';
import { openContext, readRecord, timed } from './context.js';
import { withReport } from './report.js';
import { runRollback } from './rollback.js';

/**
 * Calls every deployed endpoint URL of the record until it answers as its `verify:` says (default: GET, a
 * status below 500), or GESTALT_VERIFY_TIMEOUT runs out. The checks come from the newest history entry, so
 * no checkout is needed.
 */
export async function runVerify(config: Config, log: Logger): Promise<ExitCode> {
  const code = await withReport(config, 'verify', log, async (report) => {
    const ctx = await openContext(config, log, report.timingsMs);
    const environment = config.job.environment;
    report.record = ctx.records.uri(environment);
    const [version, history] = await timed(report.timingsMs, 'lookup', () => Promise.all([readRecord(ctx), ctx.history.read(environment)]));
    const specs = new Map((history.entries[0]?.functions ?? []).map((f) => [f.name, f.verify ?? {}]));
    const deployed = (version.record?.functions ?? []).filter((f) => f.state === 'deployed' && f.url);
    if (deployed.length === 0) {
      log.info(`Nothing to verify: the deployment record ${report.record} lists no deployed endpoint URL.`);
      report.status = 'nothing-to-do';
      return EXIT.ok;
    }
    const deadline = Date.now() + config.lifecycle.verifyTimeoutSeconds * 1000;
    const http = createHttpClient({ timeoutMs: Math.min(config.http.timeoutMs, config.lifecycle.verifyTimeoutSeconds * 1000), retry: { ...config.http.retry, attempts: 1 }, log });
    report.checks = await timed(report.timingsMs, 'verify', () =>
      log.section('verify', `Verify ${deployed.length} endpoint(s), for up to ${config.lifecycle.verifyTimeoutSeconds} s`, () =>
        mapLimit(deployed, config.concurrency, async (f): Promise<VerifyCheck> => {
          const spec = specs.get(f.name) ?? {};
          const url = spec.path ? `${(f.url as string).replace(/\/+$/, '')}${spec.path}` : (f.url as string);
          const method = (spec.method ?? 'GET') as HttpRequest['method'];
          const expect = `${spec.status ? `status ${spec.status}` : 'status < 500'}${spec.body ? `, body containing ${JSON.stringify(spec.body)}` : ''}`;
          const check: VerifyCheck = { name: f.name, url, method, expect, ok: false, attempts: 0 };
          try {
            await withRetry(
              async () => {
                check.attempts++;
                const res = await http.request({ method, url, retry: false, headers: { accept: '*/*' } });
                check.status = res.status;
                const statusOk = spec.status ? res.status === spec.status : res.status < 500;
                if (!statusOk) throw new Error(`answered HTTP ${res.status}, expected ${expect}`);
                if (spec.body && !res.text.includes(spec.body)) throw new Error(`answered HTTP ${res.status} without ${JSON.stringify(spec.body)} in its body`);
              },
              // Keep asking until the deadline: a fresh deployment may need a while to answer.
              () => (Date.now() < deadline ? 'retry' : 'fail'),
              { attempts: Number.MAX_SAFE_INTEGER, baseMs: 500, maxMs: 5000 },
            );
            check.ok = true;
            log.info(`  ${f.name}: ${method} ${url} → ${check.status} ok`);
          } catch (err) {
            check.error = `${method} ${url} ${errorMessage(err)} (after ${check.attempts} tries in ${config.lifecycle.verifyTimeoutSeconds} s)`;
            log.error(`${f.name}: ${check.error}`);
          }
          return check;
        }),
      ),
    );
    log.info(`\n${formatTable(['function', 'result', 'status', 'tries', 'url'], report.checks.map((c) => [c.name, c.ok ? 'ok' : 'FAILED', String(c.status ?? '-'), String(c.attempts), c.url]))}`);
    const failed = report.checks.filter((c) => !c.ok);
    if (failed.length === 0) return EXIT.ok;
    const sentence = `verify failed for ${failed.map((c) => `'${c.name}'`).join(', ')}`;
    report.errors.push(sentence);
    report.status = 'failed';
    log.error(`${sentence}${config.lifecycle.verifyRollback ? '; rolling back to the previous deployment (GESTALT_VERIFY_ROLLBACK=true).' : '.'}`);
    return EXIT.remote;
  });
  if (code !== EXIT.remote || !config.lifecycle.verifyRollback) return code;
  const rolled = await runRollback(config, log);
  log.info(rolled === EXIT.ok ? 'Rolled back to the previous deployment after the failed verify; the job still fails so the failure is seen.' : 'The rollback after the failed verify did not succeed either; see above.');
  return EXIT.remote;
}
