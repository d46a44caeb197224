import { debugEnabled } from './config/checks.js';
import type { Config } from './config/types.js';
import { missingCredentials } from './credentials/missing.js';
import { ConfigError, EXIT, RemoteError, errorMessage, errorMessages, type ExitCode } from './errors.js';
import { createLogger, type Logger } from './log/logger.js';
import { CancelledError } from './net/cancel.js';
import { parseArgs, type OfferedCommand } from './run/help.js';
import { VERSION } from './version.js';

export async function main(argv: string[], env: Record<string, string | undefined>, cwd: string): Promise<ExitCode> {
  const parsed = parseArgs(argv);
  if (parsed.kind === 'print') {
    process.stdout.write(parsed.text);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') {
    process.stderr.write(`gestalt-deploy: ${parsed.message}\n${parsed.help ? `\n${parsed.help}` : ''}`);
    return EXIT.config;
  }
  const { command } = parsed;
  const log = createLogger({ debug: parsed.debug || debugEnabled(env), gitlab: env.GITLAB_CI === 'true' });
  try {
    // Past argument parsing every run validates the same way and leaves a report, whatever happens next. Validation
    // (and with it yaml, fast-glob and node:crypto) is loaded only here, so --help and --version evaluate none of it.
    const [{ validate }, { writeInvalidReport }] = await Promise.all([import('./run/validate.js'), import('./run/report.js')]);
    const validation = await validate(command, env, cwd);
    const { config } = validation;
    // doctor lists the warnings among its checks.
    if (command === 'doctor') return await (await import('./run/doctor.js')).runDoctor(validation, log);
    for (const w of validation.warnings) log.warn(w);
    if (validation.problems.length > 0) {
      await writeInvalidReport(config, command, validation.problems);
      throw new ConfigError(validation.problems);
    }
    log.info(`gestalt-deploy ${VERSION}: ${command} ${config.job.environment ? `environment '${config.job.environment}' ` : ''}via ${config.target.mode} mode`);
    return await run(command, parsed.dryRun ? { ...config, lifecycle: { ...config.lifecycle, dryRun: true } } : config, env, log);
  } catch (err) {
    return reportFailure(err, log);
  }
}

/**
 * Each command's module (and with it the AWS SDK) is loaded only when that command runs: --help, --version and
 * configuration errors start about as fast as plain node. The bundle inlines these imports: it stays one file.
 */
async function run(command: Exclude<OfferedCommand, 'doctor'>, config: Config, env: Record<string, string | undefined>, log: Logger): Promise<ExitCode> {
  switch (command) {
    case 'deploy':
      return (await import('./run/deploy.js')).runDeploy(config, env, log);
    case 'stop':
      return (await import('./run/stop.js')).runStop(config, log);
    case 'plan':
      return (await import('./run/plan.js')).runPlan(config, env, log);
    case 'history':
      return (await import('./run/history.js')).runHistory(config, log);
    case 'rollback':
      return (await import('./run/rollback.js')).runRollback(config, log);
    case 'promote':
      return (await import('./run/promote.js')).runPromote(config, log);
    case 'verify':
      return (await import('./run/verify.js')).runVerify(config, log);
    case 'prune':
      return (await import('./run/prune.js')).runPrune(config, log);
  }
}

function reportFailure(err: unknown, log: Logger): ExitCode {
  // No credentials anywhere shows up at the first AWS call, whichever it is: still a configuration mistake.
  const config = err instanceof ConfigError ? err : missingCredentials(err);
  if (config) {
    log.error(`configuration error (${config.problems.length} problem${config.problems.length === 1 ? '' : 's'}); nothing was changed:`);
    for (const p of config.problems) log.info(`  - ${p.variable}: ${p.message}`);
    return EXIT.config;
  }
  if (err instanceof CancelledError) {
    log.warn(`Cancelled by ${err.signal} before any change was started.`);
    return err.signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
  }
  if (err instanceof RemoteError) {
    for (const m of errorMessages(err)) log.error(m);
    return EXIT.remote;
  }
  // Not an expected failure: say so, and keep the stack for GESTALT_DEBUG.
  log.error(`unexpected failure: ${errorMessage(err)} (rerun with GESTALT_DEBUG=true for details, and report it).`);
  if (err instanceof Error && err.stack) log.debug(err.stack);
  return EXIT.remote;
}
