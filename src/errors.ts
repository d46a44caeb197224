// The documented exit codes: 0 success, 1 a remote operation failed, 2 configuration/usage error, and the shell's
// 128 + signal number when the job was cancelled (130 SIGINT, 143 SIGTERM).
export const EXIT = { ok: 0, remote: 1, config: 2, sigint: 130, sigterm: 143 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** One configuration problem: which variable (or file:line), and a sentence saying what to change. */
export interface Problem {
  variable: string;
  message: string;
}

/** Raised before anything remote is written; carries every problem found, not just the first. */
export class ConfigError extends Error {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    super(problems.map((p) => `${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A remote call failed after retries; the message is the one sentence the user reads. */
export class RemoteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RemoteError';
  }
}

/** Independent remote causes found together (the preflight): each is its own sentence, printed on its own line. */
export class RemoteFailures extends RemoteError {
  readonly reasons: string[];
  constructor(reasons: string[]) {
    super(reasons.join(' '));
    this.name = 'RemoteFailures';
    this.reasons = reasons;
  }
}

/** The sentences an error stands for: one per cause. */
export function errorMessages(err: unknown): string[] {
  if (err instanceof RemoteFailures) return err.reasons;
  if (err instanceof ConfigError) return err.problems.map((p) => `${p.variable}: ${p.message}`);
  return [errorMessage(err)];
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
