import type { Problem } from '../errors.js';

// Small parsers that never throw: each bad value becomes a Problem naming the variable, so a
// misconfigured job hears about every mistake in one run.

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
export const FQON_RE = /^[-a-zA-Z0-9]+(\.[-a-zA-Z0-9]+)*$/;
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
export const TRUE_WORDS = ['true', '1', 'yes', 'on'];
export const FALSE_WORDS = ['false', '0', 'no', 'off'];
export const ROLE_ARN_RE = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export class Checker {
  readonly problems: Problem[] = [];
  constructor(private readonly env: Record<string, string | undefined>) {}

  problem(variable: string, message: string): void {
    this.problems.push({ variable, message });
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

  url(name: string, value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    try {
      const u = new URL(value);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      return value.replace(/\/+$/, '');
    } catch {
      this.problem(name, `'${value}' is not an http(s) URL; set the full URL, e.g. https://gestalt.example.com/…`);
      return undefined;
    }
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
