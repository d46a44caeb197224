import { closest } from '../config/closest.js';
import type { Command } from '../config/types.js';
import { VERSION } from '../version.js';

// The command line: `gestalt-deploy <command> [--debug]`, `<command> --help`, `help [<command>]`, and a
// sentence with the nearest right spelling for every wrong one.

/** The commands offered. */
export type OfferedCommand = Command;
export const COMMANDS: readonly OfferedCommand[] = ['deploy', 'stop', 'plan', 'doctor', 'history', 'rollback', 'promote', 'verify', 'prune'];
const OPTIONS = ['--help', '--version', '--debug'] as const;

interface CommandHelp {
  summary: string;
  description: string;
  needs: string[];
  optional: string[];
  writes: string;
  exit: string;
}

const TARGET = 'meta mode: GESTALT_META_URL, GESTALT_ORG, GESTALT_LAMBDA_PROVIDER_ID, GF_API_KEY + GF_API_SECRET (or GESTALT_TOKEN); gateway mode: CI_URL';
const AWS = 'AWS_REGION, and AWS_ROLE_ARN with GESTALT_ID_TOKEN (or AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY)';
const SIZING = 'LAMBDA_HANDLER, LAMBDA_MEMORY, LAMBDA_CPUS, LAMBDA_TIMEOUT, LAMBDA_METHODS, LAMBDA_PUBLIC, GESTALT_CONFIG, GESTALT_NAME_TEMPLATE';
const TUNING = 'S3_PREFIX, S3_FORCE_PATH_STYLE, AWS_ENDPOINT_URL_S3, AWS_ROLE_CHAIN, GESTALT_CONCURRENCY, GESTALT_HTTP_TIMEOUT, GESTALT_RETRY_ATTEMPTS, GESTALT_DEBUG';

// rollback and promote deploy from the history: they write and fail alike.
const CONVERGE_WRITES = 'functions and endpoints in Gestalt, the deployment record and a history entry; gestalt-deploy.json, gestalt-deploy.env';
const CONVERGE_EXIT = '1 a remote operation failed, 2 configuration error (nothing was changed), 130/143 cancelled';

const HELP: Record<OfferedCommand, CommandHelp> = {
  deploy: {
    summary: 'upload changed packages to S3, create/update the functions and endpoints, record the deployment',
    description:
      'Checks the configuration and the packages, then (read-only) that the bucket, org, environment, API and provider exist; only then uploads the packages that are not in S3 yet, creates or updates each function and its endpoint, and records what the environment runs.',
    needs: ['LAMBDA_ARTIFACTS (or gestalt-deploy.yml), LAMBDA_RUNTIME, LAMBDA_API, LAMBDA_ENVIRONMENT_ID', 'S3_BUCKET_NAME', AWS, TARGET, 'a job environment (CI_ENVIRONMENT_NAME)'],
    optional: [SIZING, 'GESTALT_PACKAGE_ACCESS, GESTALT_PRESIGN_EXPIRES, GESTALT_ENVIRONMENT_URL_FUNCTION', TUNING],
    writes: 'packages and the deployment record in S3, functions and endpoints in Gestalt; gestalt-deploy.json, gestalt-deploy.env, gestalt-annotations.json',
    exit: '0 deployed, 1 a remote operation failed (the report says which function), 2 configuration error (nothing was changed), 130/143 cancelled',
  },
  stop: {
    summary: "remove what the environment's deployment record lists, then the record",
    description: "Reads the environment's deployment record and removes its endpoints, then its functions, then the record. Needs no checkout and no LAMBDA_* variables; succeeds when there is nothing left to stop.",
    needs: ['S3_BUCKET_NAME', AWS, 'meta mode: GESTALT_META_URL, GESTALT_ORG, GF_API_KEY + GF_API_SECRET (or GESTALT_TOKEN); gateway mode: CI_URL', 'a job environment (CI_ENVIRONMENT_NAME)'],
    optional: ['S3_PREFIX, LAMBDA_ENVIRONMENT_ID (finds functions by name when the record is gone)', TUNING],
    writes: 'removes functions, endpoints and the record; gestalt-deploy.json',
    exit: '0 stopped (or nothing to stop), 1 a remote operation failed, 2 configuration error, 130/143 cancelled',
  },
  plan: {
    summary: 'show what deploy would do, without changing anything',
    description:
      'Runs the checks deploy runs, then lists per function whether its package would upload and whether it would be created, updated (each changed setting with its current and new value) or left unchanged.',
    needs: ['the same as deploy'],
    optional: ['the same as deploy'],
    writes: 'nothing remotely; gestalt-plan.json',
    exit: '0 planned, 1 a remote check or lookup failed, 2 configuration error',
  },
  doctor: {
    summary: "check configuration, the ID token's claims, the IAM trust policy and everything deploy needs",
    description:
      "Reports every problem deploy would report, decodes the ID token's claims (never verifies or prints it whole), prints the IAM trust policy that admits this job, then checks read-only: AWS credentials, the bucket, the org, environment, API and provider, and whether an anonymous request can read a package (what Gestalt needs for GESTALT_PACKAGE_ACCESS=private without a bucket policy for it); ends with a review of the role's trust (wildcards, forks, unprotected branches, session tags).",
    needs: ['what deploy needs (doctor says which are missing)'],
    optional: ['the same as deploy', 'GESTALT_TRUST_POLICY (the role\'s trust policy, to review its conditions)'],
    writes: 'nothing remotely; gestalt-doctor.json',
    exit: '0 all checks passed, 1 a remote check failed, 2 configuration error',
  },
  history: {
    summary: "the environment's deployments, newest first (gestalt-history.json)",
    description: 'Lists the history entries every successful deploy, rollback and promote of this environment added next to its deployment record: number, time, commit, pipeline, command and functions. Needs no checkout.',
    needs: ['S3_BUCKET_NAME', AWS, 'a job environment (CI_ENVIRONMENT_NAME)'],
    optional: ['S3_PREFIX, GESTALT_HISTORY_LIMIT', TUNING],
    writes: 'nothing remotely; gestalt-history.json',
    exit: '0 listed (or no history yet), 1 a remote read failed, 2 configuration error',
  },
  rollback: {
    summary: 'go back to an earlier deployment (GESTALT_ROLLBACK_TO; default the previous) from its recorded packages',
    description: "Deploys an earlier history entry of this environment again, from the packages and settings it recorded: no checkout, no build and no upload. GESTALT_ROLLBACK_TO picks the entry by number or commit SHA prefix; unset, it is the entry before the newest.",
    needs: ['S3_BUCKET_NAME', AWS, TARGET, 'a job environment (CI_ENVIRONMENT_NAME)'],
    optional: ['GESTALT_ROLLBACK_TO, GESTALT_HISTORY_LIMIT, LAMBDA_API, LAMBDA_ENVIRONMENT_ID', TUNING],
    writes: CONVERGE_WRITES,
    exit: `0 rolled back, ${CONVERGE_EXIT}`,
  },
  promote: {
    summary: 'deploy the packages and settings GESTALT_PROMOTE_FROM runs now into this environment, no rebuild',
    description: "Takes the latest history entry of the environment named by GESTALT_PROMOTE_FROM and deploys the same packages and settings into this job's environment, under names rendered with this job's GESTALT_NAME_TEMPLATE. No checkout and no upload: the reviewed bytes are the ones that run.",
    needs: ['GESTALT_PROMOTE_FROM, LAMBDA_API, LAMBDA_ENVIRONMENT_ID', 'S3_BUCKET_NAME', AWS, TARGET, 'a job environment (CI_ENVIRONMENT_NAME)'],
    optional: ['GESTALT_NAME_TEMPLATE, GESTALT_HISTORY_LIMIT', TUNING],
    writes: CONVERGE_WRITES,
    exit: `0 promoted, ${CONVERGE_EXIT}`,
  },
  verify: {
    summary: 'call every deployed endpoint until it answers as expected (gestalt-verify.json)',
    description: "Calls the URL of every deployed function in the environment's record until it answers as its verify: key in gestalt-deploy.yml says (default: GET, a status below 500), or GESTALT_VERIFY_TIMEOUT runs out. With GESTALT_VERIFY_ROLLBACK=true a failed check rolls the environment back to its previous deployment.",
    needs: ['S3_BUCKET_NAME', AWS, 'a job environment (CI_ENVIRONMENT_NAME)'],
    optional: ['GESTALT_VERIFY_TIMEOUT, GESTALT_VERIFY_ROLLBACK (then what rollback needs)', TUNING],
    writes: 'nothing remotely unless it rolls back; gestalt-verify.json',
    exit: '0 every endpoint answered as expected, 1 a check or a remote read failed (each failed function is named), 2 configuration error',
  },
  prune: {
    summary: 'stop stale environments matching GESTALT_PRUNE_ENVIRONMENTS, delete unreferenced old packages (prune --dry-run lists)',
    description: "For a scheduled pipeline: needs no environment and no checkout. Stops every environment matching GESTALT_PRUNE_ENVIRONMENTS (a glob such as review/*) whose record was not updated for GESTALT_PRUNE_AFTER_DAYS, with the same ownership checks as stop, then deletes package objects older than GESTALT_PRUNE_PACKAGES_DAYS that no record and no kept history entry of any environment names. With --dry-run it lists what it would stop and delete, and changes nothing.",
    needs: ['S3_BUCKET_NAME', AWS, `with GESTALT_PRUNE_ENVIRONMENTS: ${TARGET}`],
    optional: ['GESTALT_PRUNE_ENVIRONMENTS, GESTALT_PRUNE_AFTER_DAYS, GESTALT_PRUNE_PACKAGES_DAYS, GESTALT_HISTORY_LIMIT', TUNING],
    writes: 'stops environments (as stop does) and deletes package objects; gestalt-prune.json',
    exit: '0 pruned (or nothing to prune), 1 a remote operation failed or a stop was refused, 2 configuration error',
  },
};

export function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.length));
  return `gestalt-deploy ${VERSION} — deploy serverless functions to Gestalt from GitLab CI/CD

Usage: gestalt-deploy <command> [--debug]
       gestalt-deploy <command> --help     what the command does and the variables it reads
       gestalt-deploy --version

Commands:
${COMMANDS.map((c) => `  ${c.padEnd(width)}  ${HELP[c].summary}`).join('\n')}

Options:
  --help, -h      this text (after a command: that command's)
  --version, -v   the version
  --debug         verbose logs (also GESTALT_DEBUG=true)

Configuration comes from job variables (LAMBDA_ARTIFACTS, LAMBDA_RUNTIME, LAMBDA_API, LAMBDA_ENVIRONMENT_ID,
S3_BUCKET_NAME, CI_URL or GESTALT_META_URL, AWS_ROLE_ARN, ...); see the README's variables table.
Exit codes: 0 success, 1 a remote operation failed, 2 configuration or usage error (nothing was changed).
`;
}

export function commandHelp(command: OfferedCommand): string {
  const h = HELP[command];
  const lines = (label: string, items: string[]) => items.map((item, i) => `${i === 0 ? label : ' '.repeat(label.length)}${item}`).join('\n');
  return `gestalt-deploy ${command} — ${h.summary}

Usage: gestalt-deploy ${command} [--debug]

${wrap(h.description, 100)}

${lines('Needs:    ', h.needs)}
${lines('Optional: ', h.optional)}
Writes:   ${h.writes}
Exit:     ${h.exit}
`;
}

function wrap(text: string, width: number): string {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out.join('\n');
}

/** What the arguments ask for: a command to run, text to print, or a usage error (exit 2). */
export type Parsed =
  | { kind: 'run'; command: OfferedCommand; debug: boolean; dryRun: boolean }
  | { kind: 'print'; text: string }
  | { kind: 'usage'; message: string; help?: string };

export function parseArgs(argv: string[]): Parsed {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const wantsHelp = args.some((a) => a === '--help' || a === '-h');
  const rest = args.filter((a) => a !== '--help' && a !== '-h');
  if (rest.includes('--version') || rest.includes('-v')) return { kind: 'print', text: `${VERSION}\n` };

  let [first, ...more] = rest;
  if (first === 'help') {
    if (more.length === 0) return { kind: 'print', text: generalHelp() };
    [first, ...more] = more;
    return more.length > 0 ? unexpected(more[0] as string) : isCommand(first) ? { kind: 'print', text: commandHelp(first) } : unknownCommand(first as string);
  }
  if (first === undefined) {
    if (wantsHelp) return { kind: 'print', text: generalHelp() };
    return { kind: 'usage', message: `missing command; use one of ${COMMANDS.join(', ')} (gestalt-deploy <command> --help describes each).`, help: generalHelp() };
  }
  if (first.startsWith('-')) return unknownOption(first, undefined);
  if (!isCommand(first)) return unknownCommand(first);
  if (wantsHelp) return { kind: 'print', text: commandHelp(first) };
  // prune alone takes an option: --dry-run lists what it would stop and delete.
  const dryRun = first === 'prune' && more.includes('--dry-run');
  const stray = more.filter((a) => !(dryRun && a === '--dry-run'))[0];
  if (stray !== undefined) return stray.startsWith('-') ? unknownOption(stray, first) : unexpected(stray);
  return { kind: 'run', command: first, debug, dryRun };
}

function isCommand(word: string | undefined): word is OfferedCommand {
  return (COMMANDS as readonly string[]).includes(word ?? '');
}

function unknownCommand(word: string): Parsed {
  const near = closest(word, COMMANDS);
  return { kind: 'usage', message: `unknown command '${word}'${near ? `; did you mean '${near}'?` : ''} Use one of ${COMMANDS.join(', ')} (see --help).` };
}

function unknownOption(option: string, command: OfferedCommand | undefined): Parsed {
  const name = option.split('=')[0] as string;
  // The options people bring from other tools point at what does that job here; --dryrun is --dry-run too.
  const near = closest(name, [...OPTIONS, '--dry-run', '--verbose']);
  if (near === '--dry-run') return { kind: 'usage', message: `there is no ${name}; 'gestalt-deploy plan' shows what deploy would do without changing anything.` };
  const suggestion = near === '--verbose' ? '--debug' : near;
  const where = command ? `${command}: ` : '';
  return { kind: 'usage', message: `${where}unknown option '${option}'${suggestion ? `; did you mean '${suggestion}'?` : ''} Commands take no options but --help and --debug; configuration comes from job variables (gestalt-deploy ${command ?? '<command>'} --help).` };
}

function unexpected(arg: string): Parsed {
  return { kind: 'usage', message: `unexpected argument '${arg}'; commands take no arguments, configuration comes from job variables (see --help).` };
}
