import { debugEnabled, loadConfig, readConfig } from './config/env.js';
import type { Command } from './config/types.js';
import { ConfigError, EXIT, RemoteError, errorMessage, type ExitCode } from './errors.js';
import { createLogger, type Logger } from './log/logger.js';
import { CancelledError } from './net/cancel.js';
import { VERSION } from './version.js';

const COMMANDS: readonly Command[] = ['deploy', 'stop', 'plan', 'doctor', 'history', 'rollback', 'promote', 'verify'];

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
  const [command, ...rest] = args;
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
      const { runDoctor } = await import('./run/doctor.js');
      return await runDoctor(config, problems, log);
    }
    const config = loadConfig(command as Command, env, cwd);
    for (const w of config.warnings) log.warn(w);
    log.info(`gestalt-deploy ${VERSION}: ${command} ${config.job.environment ? `environment '${config.job.environment}' ` : ''}via ${config.target.mode} mode`);
    // Each command's module (and with it the AWS SDK) is loaded only when that command runs: --help, --version
    // and configuration errors start as fast as plain node. The bundle inlines these imports, it stays one file.
    switch (command as Command) {
      case 'deploy':
        return await (await import('./run/deploy.js')).runDeploy(config, env, log);
      case 'stop':
        return await (await import('./run/stop.js')).runStop(config, log);
      case 'plan':
        return await (await import('./run/plan.js')).runPlan(config, env, log);
      case 'history':
        return await (await import('./run/history.js')).runHistory(config, log);
      case 'rollback':
        return await (await import('./run/rollback.js')).runRollback(config, log);
      case 'promote':
        return await (await import('./run/promote.js')).runPromote(config, log);
      case 'verify':
        return await (await import('./run/verify.js')).runVerify(config, log);
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
