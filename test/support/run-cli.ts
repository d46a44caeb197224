// Runs the built bundle the way a GitLab job does: a fresh Node process, only the job's variables in its
// environment, the project dir as cwd, reports read back from that dir.
import { runCaptured } from './loopback.js';
import type { RunCapturedOptions } from './loopback.js';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_PATH: string = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/gestalt-deploy.js');

// Tests assert on report fields directly (files.json.functions[0].name); `unknown` would force a cast at every use.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

export interface CliFiles {
  /** gestalt-deploy.env as text. */
  env?: string;
  /** gestalt-deploy.json, parsed. */
  json?: Json;
  /** gestalt-annotations.json, parsed. */
  annotations?: Json;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  output: string;
  /** Reports this run created or rewrote in cwd (a report left over from an earlier run in the same dir is not returned). */
  files: CliFiles;
}

export interface RunCliOptions {
  env: Record<string, string | undefined>;
  cwd: string;
  timeoutMs?: number;
  /** Script to run instead of the bundle (the harness's own tests). */
  script?: string;
  /** Hands over the child process once it runs, e.g. to send it SIGTERM at a chosen moment. */
  onSpawn?: RunCapturedOptions['onSpawn'];
}

const REPORTS = {
  env: 'gestalt-deploy.env',
  json: 'gestalt-deploy.json',
  annotations: 'gestalt-annotations.json',
} as const;

type Stamp = { mtimeMs: number; size: number; ino: number } | undefined;

async function stamp(path: string): Promise<Stamp> {
  try {
    const s = await stat(path);
    return { mtimeMs: s.mtimeMs, size: s.size, ino: s.ino };
  } catch {
    return undefined;
  }
}

const sameStamp = (a: Stamp, b: Stamp) =>
  a !== undefined && b !== undefined && a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;

export async function runCli(args: string[], opts: RunCliOptions): Promise<CliResult> {
  const script = opts.script ?? CLI_PATH;
  if (!existsSync(script)) {
    throw new Error(`${script} does not exist: run \`npm run build\` before the integration tests`);
  }
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;

  const before = new Map<string, Stamp>();
  for (const name of Object.values(REPORTS)) before.set(name, await stamp(join(opts.cwd, name)));

  const run = await runCaptured(process.execPath, [script, ...args], { cwd: opts.cwd, env, timeoutMs, onSpawn: opts.onSpawn });
  const { stdout, stderr, output } = run;
  if (run.timedOut) {
    throw new Error(`gestalt-deploy ${args.join(' ')} did not finish within ${timeoutMs} ms and was killed.\n--- output so far ---\n${output}`);
  }
  if (run.code === null) throw new Error(`gestalt-deploy ${args.join(' ')} was killed by ${run.signal}.\n--- output ---\n${output}`);
  const code = run.code;

  const files: CliFiles = {};
  for (const [field, name] of Object.entries(REPORTS) as [keyof CliFiles, string][]) {
    const path = join(opts.cwd, name);
    const after = await stamp(path);
    if (after === undefined || sameStamp(before.get(name), after)) continue;
    const text = await readFile(path, 'utf8');
    if (field === 'env') {
      files.env = text;
      continue;
    }
    try {
      files[field] = JSON.parse(text);
    } catch (err) {
      // A half-written or malformed report is a product bug; surface it rather than hand back undefined.
      throw new Error(`${name} written by this run is not valid JSON (${String(err)}):\n${text}\n--- output ---\n${output}`);
    }
  }

  return { code, stdout, stderr, output, files };
}

/** A 40-hex commit SHA that stays the same across runs, so expected names and keys can be written down. */
export const JOB_COMMIT_SHA = '3f786850e387550fdab836ed7e6dc881de23001b';

export function jobEnv(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    // Only what a job would have that is not GitLab's: the rest of this process's environment (AWS_*,
    // NODE_OPTIONS, VITEST_*) must not reach the CLI.
    HOME: process.env.HOME,
    PATH: process.env.PATH,
    CI: 'true',
    GITLAB_CI: 'true',
    CI_PROJECT_NAME: 'lambdas',
    CI_PROJECT_PATH: 'acme/lambdas',
    CI_PROJECT_NAMESPACE: 'acme',
    CI_PROJECT_ID: '42',
    CI_PROJECT_URL: 'https://gitlab.example.com/acme/lambdas',
    CI_DEFAULT_BRANCH: 'main',
    CI_COMMIT_REF_SLUG: 'main',
    CI_COMMIT_REF_NAME: 'main',
    CI_COMMIT_BRANCH: 'main',
    CI_COMMIT_SHA: JOB_COMMIT_SHA,
    CI_COMMIT_SHORT_SHA: JOB_COMMIT_SHA.slice(0, 8),
    CI_ENVIRONMENT_NAME: 'review/main',
    CI_ENVIRONMENT_SLUG: 'review-main-abc123',
    CI_PIPELINE_ID: '1001',
    CI_PIPELINE_SOURCE: 'push',
    CI_JOB_ID: '2002',
    CI_JOB_NAME: 'deploy_review',
    CI_JOB_URL: 'https://gitlab.example.com/acme/lambdas/-/jobs/2002',
    CI_SERVER_URL: 'https://gitlab.example.com',
    CI_API_V4_URL: 'https://gitlab.example.com/api/v4',
  };
  for (const [k, v] of Object.entries(overrides)) env[k] = v;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

export async function makeProject(files: Record<string, string | Buffer>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gestalt-deploy-test-'));
  for (const [rel, content] of Object.entries(files)) {
    const path = resolve(dir, rel);
    if (!path.startsWith(dir + '/')) throw new Error(`makeProject: ${rel} escapes the project dir`);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  }
  return dir;
}

const MIN_SECRET_LENGTH = 6;
/** Any run of this many characters of a secret counts as a leak: a prefix printed by a cut is still a leak. */
export const SECRET_FRAGMENT = 8;

interface Piece {
  index: number;
  encoded: boolean;
}

/**
 * Throws when any secret occurs in any haystack: whole, or any SECRET_FRAGMENT-character piece of it, raw or
 * URL-encoded. The message names the secret by index and first 4 characters and shows the place with every
 * secret piece masked: a failing test must not leak it further.
 */
export function assertNoSecrets(haystacks: (string | undefined)[], secrets: (string | undefined)[]): void {
  const checked = secrets
    .map((s, index) => ({ s, index }))
    .filter((x): x is { s: string; index: number } => typeof x.s === 'string' && x.s.length >= MIN_SECRET_LENGTH);
  // Every SECRET_FRAGMENT-character window of every form; secrets shorter than that are looked for whole.
  const windows = new Map<string, Piece>();
  const short: { form: string; piece: Piece }[] = [];
  for (const { s, index } of checked) {
    for (const form of new Set([s, encodeURIComponent(s)])) {
      const piece = { index, encoded: form !== s };
      if (form.length < SECRET_FRAGMENT) short.push({ form, piece });
      else for (let i = 0; i + SECRET_FRAGMENT <= form.length; i++) if (!windows.has(form.slice(i, i + SECRET_FRAGMENT))) windows.set(form.slice(i, i + SECRET_FRAGMENT), piece);
    }
  }

  /** Stretches of `hay` made of secret pieces: [start, end, piece]. */
  const stretches = (hay: string): [number, number, Piece][] => {
    const found: [number, number, Piece][] = [];
    for (let i = 0; i + SECRET_FRAGMENT <= hay.length; i++) {
      const piece = windows.get(hay.slice(i, i + SECRET_FRAGMENT));
      if (!piece) continue;
      const last = found[found.length - 1];
      if (last && last[2].index === piece.index && i <= last[1]) {
        last[1] = i + SECRET_FRAGMENT;
        // A stretch with any window only the URL-encoded form has is that form.
        if (piece.encoded) last[2] = piece;
      } else found.push([i, i + SECRET_FRAGMENT, piece]);
    }
    for (const { form, piece } of short) {
      for (let at = hay.indexOf(form); at >= 0; at = hay.indexOf(form, at + 1)) found.push([at, at + form.length, piece]);
    }
    return found.sort((a, b) => a[0] - b[0]);
  };
  const mask = (hay: string, found: [number, number, Piece][]) => {
    let out = '';
    let at = 0;
    for (const [start, end, piece] of found) {
      if (end <= at) continue;
      out += `${hay.slice(at, Math.max(at, start))}[secret #${piece.index}]`;
      at = end;
    }
    return out + hay.slice(at);
  };

  const leaks: string[] = [];
  haystacks.forEach((hay, h) => {
    if (!hay) return;
    const found = stretches(hay);
    const reported = new Set<number>();
    for (const [start, end, piece] of found) {
      if (reported.has(piece.index)) continue;
      reported.add(piece.index);
      const secret = checked.find((c) => c.index === piece.index)?.s ?? '';
      const whole = end - start >= (piece.encoded ? encodeURIComponent(secret) : secret).length;
      const what = whole ? 'the whole secret' : `${end - start} characters of it`;
      const masked = mask(hay, found);
      const place = masked.indexOf(`[secret #${piece.index}]`);
      const context = masked.slice(Math.max(0, place - 60), place + 80).replace(/\s+/g, ' ');
      leaks.push(`secret #${piece.index} (${secret.slice(0, 4)}…, ${secret.length} chars): ${what}${piece.encoded ? ' (URL-encoded)' : ''} appears in haystack #${h}: …${context}…`);
    }
  });
  if (leaks.length > 0) throw new Error(`secret leaked:\n  ${leaks.join('\n  ')}`);
}
