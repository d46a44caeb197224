import { debugEnabled, loadConfig, readConfig } from './config/env.js';
import type { Command } from './config/types.js';
import { ConfigError, EXIT, RemoteError, errorMessage, type ExitCode } from './errors.js';
import { createLogger, type Logger } from './log/logger.js';
import { CancelledError } from './net/cancel.js';
import { runDeploy } from './run/deploy.js';
import { runDoctor } from './run/doctor.js';
import { runPlan } from './run/plan.js';
import { runStop } from './run/stop.js';
import { runHistory } from './run/history.js';
import { runRollback } from './run/rollback.js';
import { runPromote } from './run/promote.js';
import { runVerify } from './run/verify.js';
import { runPrune } from './run/prune.js';
import { VERSION } from './version.js';

const COMMANDS: readonly Command[] = ['deploy', 'stop', 'plan', 'doctor', 'history', 'rollback', 'promote', 'verify', 'prune'];

const HELP = `gestalt-deploy ${VERSION} — deploy serverless functions to Gestalt from GitLab CI/CD

Usage: gestalt-deploy <command>

Commands:
  deploy   upload changed packages to S3, create/update the functions and endpoints, record the deployment
  stop     remove what the environment's deployment record lists, then the record
  plan     show what deploy would do, without changing anything
  doctor   check configuration, the ID token's claims, the IAM trust policy and reachability
  history  the environment's deployments, newest first (gestalt-history.json)
  rollback go back to an earlier deployment (GESTALT_ROLLBACK_TO; default the previous) from its recorded packages
  promote  deploy the packages and settings GESTALT_PROMOTE_FROM runs now into this environment, no rebuild
  verify   call every deployed endpoint until it answers as expected (gestalt-verify.json)
  prune    stop stale environments matching GESTALT_PRUNE_ENVIRONMENTS, delete unreferenced old packages
           (gestalt-prune.json); prune --dry-run only lists

Options:
  --help, -h      this text
  --version, -v   the version

Configuration comes from job variables (LAMBDA_ARTIFACTS, LAMBDA_RUNTIME, LAMBDA_API, LAMBDA_ENVIRONMENT_ID,
S3_BUCKET_NAME, CI_URL or GESTALT_META_URL, AWS_ROLE_ARN, ...); see the README's variables table.
Exit codes: 0 success, 1 a remote operation failed, 2 configuration or usage error (nothing was changed).
`;

export async function main(argv: string[], env: Record<string, string | undefined>, cwd: string): Promise<ExitCode> {
  const args = argv.filter((a) => a !== '--debug');
  if (args.includes('--help') || args.includes('-h') || args.length === 0) {
    process.stdout.write(HELP);
    return args.length === 0 ? EXIT.config : EXIT.ok;
  }
  if (args.includes('--version') || args.includes('-v')) {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  const [command, ...given] = args;
  // prune alone takes an option: --dry-run lists what it would stop and delete.
  const dryRun = command === 'prune' && given.includes('--dry-run');
  const rest = given.filter((a) => !(dryRun && a === '--dry-run'));
  if (!COMMANDS.includes(command as Command) || rest.length > 0) {
    process.stderr.write(`gestalt-deploy: ${rest.length > 0 ? `unexpected argument '${rest[0]}'` : `unknown command '${command}'`}; use one of ${COMMANDS.join(', ')} (see --help).\n`);
    return EXIT.config;
  }
  const log = createLogger({ debug: argv.includes('--debug') || debugEnabled(env), gitlab: env.GITLAB_CI === 'true' });
  try {
    if (command === 'doctor') {
      // doctor reports configuration problems and goes on checking what it can.
      const { config, problems } = readConfig('doctor', env, cwd);
      for (const w of config.warnings) log.warn(w);
      return await runDoctor(config, problems, log);
    }
    const config = loadConfig(command as Command, env, cwd);
    for (const w of config.warnings) log.warn(w);
    log.info(`gestalt-deploy ${VERSION}: ${command} ${config.job.environment ? `environment '${config.job.environment}' ` : ''}via ${config.target.mode} mode`);
    switch (command as Command) {
      case 'deploy':
        return await runDeploy(config, env, log);
      case 'stop':
        return await runStop(config, log);
      case 'plan':
        return await runPlan(config, env, log);
      case 'history':
        return await runHistory(config, log);
      case 'rollback':
        return await runRollback(config, log);
      case 'promote':
        return await runPromote(config, log);
      case 'verify':
        return await runVerify(config, log);
      case 'prune':
        return await runPrune({ ...config, lifecycle: { ...config.lifecycle, dryRun } }, log);
    }
  } catch (err) {
    return reportFailure(err, log);
  }
  return EXIT.ok;
}

function reportFailure(err: unknown, log: Logger): ExitCode {
  if (err instanceof ConfigError) {
    log.error(`configuration error (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}); nothing was changed:`);
    for (const p of err.problems) log.info(`  - ${p.variable}: ${p.message}`);
    return EXIT.config;
  }
  if (err instanceof CancelledError) {
    log.warn(`Cancelled by ${err.signal} before any change was started.`);
    return err.signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
  }
  if (err instanceof RemoteError) {
    log.error(err.message);
    return EXIT.remote;
  }
  // Not an expected failure: say so, and keep the stack for GESTALT_DEBUG.
  log.error(`unexpected failure: ${errorMessage(err)} (rerun with GESTALT_DEBUG=true for details, and report it).`);
  if (err instanceof Error && err.stack) log.debug(err.stack);
  return EXIT.remote;
}
