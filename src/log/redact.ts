// The one place secrets are scrubbed. Every log line, error message and report passes through `redact`.
import { escapeControl } from './printable.js';

const MASK = '[REDACTED]';

/**
 * In text quoted from a service, any run of this many characters taken from a registered secret is masked too:
 * a service that echoes part of a token ("invalid token 'eyJhbGciOiJSUzI1…'") must not hand the job log a
 * prefix of it. Only there: our own messages never hold part of a secret, and masking every 8-character
 * coincidence in them (an account id against a secret with a digit run) would garble the log for nothing.
 */
export const FRAGMENT_LENGTH = 8;

/** How far past the cut `quote` still redacts, so a secret straddling the cut is masked whole first. */
const QUOTE_SLACK = 8192;

// Shapes that are secret whatever their value: presigned URL signatures and session tokens, JWTs
// (GitLab ID tokens), Authorization header values, and the userinfo of any URL (https://user:pass@host).
const PATTERNS: [RegExp, string][] = [
  [/(X-Amz-Signature=)[^&\s"'<>\\]+/gi, `$1${MASK}`],
  [/(X-Amz-Security-Token=)[^&\s"'<>\\]+/gi, `$1${MASK}`],
  [/(Signature=)[^&\s"'<>\\]+/g, `$1${MASK}`],
  [/\beyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]+/g, MASK],
  [/(Authorization"?\s*[:=]?\s*"?(?:Basic|Bearer)\s+)[^\s"',}\\]+/gi, `$1${MASK}`],
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>\\]+@/gi, `$1${MASK}@`],
];

export class Redactor {
  private readonly secrets = new Set<string>();
  private readonly fragments = new Set<string>();
  private longest = 0;

  /** Registers a secret value plus the encodings it may travel in (URL-encoded, base64 of key:secret is added by the caller). */
  add(value: string | undefined): void {
    if (!value || value.length < 4) return;
    for (const form of new Set([value, encodeURIComponent(value)])) {
      this.secrets.add(form);
      this.longest = Math.max(this.longest, form.length);
      if (form.length <= FRAGMENT_LENGTH) continue;
      for (let i = 0; i + FRAGMENT_LENGTH <= form.length; i++) this.fragments.add(form.slice(i, i + FRAGMENT_LENGTH));
    }
  }

  redact(text: string): string {
    let out = text;
    // Longest first so a secret that contains another is masked whole.
    for (const secret of [...this.secrets].sort((a, b) => b.length - a.length)) {
      if (out.includes(secret)) out = out.split(secret).join(MASK);
    }
    for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
    return out;
  }

  /**
   * Remote text (an error body, a log line from the deployment lambda) as messages quote it: redacted while
   * still whole, pieces of secrets included, then cut to `max` characters on one line. Cutting first would
   * leave a secret's prefix that no longer matches the secret.
   */
  quote(text: string, max = 200): string {
    const whole = escapeControl(this.maskFragments(this.redact(text.slice(0, max + Math.max(this.longest, QUOTE_SLACK))))).trim();
    if (whole.length <= max) return whole;
    let cut = whole.slice(0, max);
    // Never leave half a mask behind ("[REDA"), which reads like a broken secret.
    for (let k = MASK.length - 1; k > 0; k--) {
      if (cut.endsWith(MASK.slice(0, k))) {
        cut = cut.slice(0, -k);
        break;
      }
    }
    return `${cut}…`;
  }

  /** Redacts every string inside a JSON-like value (reports), one string at a time so JSON escaping cannot hide a secret. */
  redactDeep<T>(value: T): T {
    if (typeof value === 'string') return this.redact(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.redactDeep(v)) as T;
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.redactDeep(v)])) as T;
    }
    return value;
  }

  /** Masks every stretch of text covered by FRAGMENT_LENGTH-character pieces of a registered secret. */
  private maskFragments(text: string): string {
    if (this.fragments.size === 0 || text.length < FRAGMENT_LENGTH) return text;
    let out = '';
    let copied = 0; // text before this index is already in `out`
    let maskedTo = -1; // end of the stretch being masked
    for (let i = 0; i + FRAGMENT_LENGTH <= text.length; i++) {
      if (!this.fragments.has(text.slice(i, i + FRAGMENT_LENGTH))) continue;
      if (i > maskedTo) {
        out += text.slice(copied, i) + MASK;
      }
      maskedTo = i + FRAGMENT_LENGTH;
      copied = maskedTo;
    }
    return copied === 0 ? text : out + text.slice(copied);
  }
}

/** Process-wide: secrets are registered as soon as they are read (config, STS answers). */
export const redactor = new Redactor();
