import type { Problem } from '../errors.js';
import { redactor } from '../log/redact.js';

// Small parsers that never throw: each bad value becomes a Problem naming the variable, so a
// misconfigured job hears about every mistake in one run.

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
export const FQON_RE = /^[-a-zA-Z0-9]+(\.[-a-zA-Z0-9]+)*$/;
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
export const TRUE_WORDS = ['true', '1', 'yes', 'on'];
export const FALSE_WORDS = ['false', '0', 'no', 'off'];
/**
 * GESTALT_DEBUG, or GitLab's CI_DEBUG_TRACE; read before the rest so configuration errors can be debugged too. Here,
 * not in env.ts, because the command line asks before it loads anything else (env.ts brings node:fs and node:path).
 */
export function debugEnabled(env: Record<string, string | undefined>): boolean {
  return TRUE_WORDS.includes((env.GESTALT_DEBUG ?? '').trim().toLowerCase()) || env.CI_DEBUG_TRACE === 'true';
}

export const ROLE_ARN_RE = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export class Checker {
  readonly problems: Problem[] = [];
  /** Settings that work but deserve a word (printed before the run starts). */
  readonly warnings: string[] = [];
  constructor(private readonly env: Record<string, string | undefined>) {}

  problem(variable: string, message: string): void {
    this.problems.push({ variable, message });
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  /** Trimmed value, or undefined when unset or blank (GitLab passes unset variables as empty). */
  get(name: string): string | undefined {
    const v = this.env[name]?.trim();
    return v ? v : undefined;
  }

  required(name: string, why: string): string {
    const v = this.get(name);
    if (v === undefined) this.problem(name, `is not set; ${why}`);
    return v ?? '';
  }

  int(name: string, fallback: number, min: number, max: number, what: string): number {
    const raw = this.get(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw)) {
      this.problem(name, `'${raw}' is not a whole number; set ${what} as an integer from ${min} to ${max}.`);
      return fallback;
    }
    const n = Number(raw);
    if (n < min || n > max) this.problem(name, `${n} is out of range; ${what} must be from ${min} to ${max}.`);
    return n;
  }

  number(name: string, fallback: number, min: number, max: number, what: string): number {
    const raw = this.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d*\.?\d+$/.test(raw) || !Number.isFinite(n)) {
      this.problem(name, `'${raw}' is not a number; set ${what} such as ${fallback}.`);
      return fallback;
    }
    if (n < min || n > max) this.problem(name, `${n} is out of range; ${what} must be from ${min} to ${max}.`);
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.get(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (TRUE_WORDS.includes(raw)) return true;
    if (FALSE_WORDS.includes(raw)) return false;
    this.problem(name, `'${this.get(name)}' is not a boolean; use true or false.`);
    return fallback;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.get(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problem(name, `'${raw}' is not a known value; use one of ${allowed.join(', ')}.`);
    return fallback;
  }

  /**
   * An http(s) URL without credentials in it. A `user:password@` part would be printed, recorded and sent
   * to every host the URL names, so it is refused — without echoing it — and its password registered as a
   * secret in case anything else repeats the value.
   */
  url(name: string, value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(value)?.[1];
    if (userinfo !== undefined) {
      const password = userinfo.slice(userinfo.indexOf(':') + 1);
      redactor.add(password);
      redactor.add(safeDecode(password));
      this.problem(name, `contains a user name or password before '@' (https://user:password@host); remove it from the URL and keep credentials in masked variables (GF_API_KEY/GF_API_SECRET or GESTALT_TOKEN for Gestalt, AWS_ROLE_ARN or the AWS keys for AWS).`);
      return undefined;
    }
    try {
      const u = new URL(value);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      return value.replace(/\/+$/, '');
    } catch {
      // No scheme, so no userinfo found above: still never echo what could be one ("user:pass@host").
      const shown = value.includes('@') ? `[REDACTED]@${value.slice(value.lastIndexOf('@') + 1)}` : value;
      this.problem(name, `'${shown}' is not an http(s) URL; set the full URL, e.g. https://gestalt.example.com/…`);
      return undefined;
    }
  }

  /** A Gestalt URL that credentials will be sent to: plain http works, but deserves a warning. */
  credentialedUrl(name: string, value: string | undefined, credentials: string): string | undefined {
    const url = this.url(name, value);
    if (url?.toLowerCase().startsWith('http://')) {
      this.warn(`${name} uses plain http://, so ${credentials} and every request travel unencrypted; use https:// unless the runner and Gestalt share a trusted network.`);
    }
    return url;
  }

  uuid(name: string, value: string | undefined, what: string): string | undefined {
    if (value === undefined) return undefined;
    if (!UUID_RE.test(value)) {
      this.problem(name, `'${value}' is not a UUID; set it to the ${what} (a UUID such as e7b3ca8b-5b9a-4a51-8309-3ced4718e41f).`);
      return undefined;
    }
    return value.toLowerCase();
  }
}

export function isHttpMethod(m: string): boolean {
  return (HTTP_METHODS as readonly string[]).includes(m);
}

/** Splits a space- or newline-separated list, as the original script's `for lambda in $LAMBDA_ARTIFACTS` did. */
export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter(Boolean);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
