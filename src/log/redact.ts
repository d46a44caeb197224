// The one place secrets are scrubbed. Every log line, error message and report passes through `redact`.
const MASK = '[REDACTED]';

// Shapes that are secret whatever their value: presigned URL signatures and session tokens, JWTs
// (GitLab ID tokens), and Authorization header values.
const PATTERNS: [RegExp, string][] = [
  [/(X-Amz-Signature=)[^&\s"'<>\\]+/gi, `$1${MASK}`],
  [/(X-Amz-Security-Token=)[^&\s"'<>\\]+/gi, `$1${MASK}`],
  [/(Signature=)[^&\s"'<>\\]+/g, `$1${MASK}`],
  [/\beyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]+/g, MASK],
  [/(Authorization"?\s*[:=]?\s*"?(?:Basic|Bearer)\s+)[^\s"',}\\]+/gi, `$1${MASK}`],
];

export class Redactor {
  private readonly secrets = new Set<string>();

  /** Registers a secret value plus the encodings it may travel in (URL-encoded, base64 of key:secret is added by the caller). */
  add(value: string | undefined): void {
    if (!value || value.length < 4) return;
    this.secrets.add(value);
    const encoded = encodeURIComponent(value);
    if (encoded !== value) this.secrets.add(encoded);
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

  /** Redacts every string inside a JSON-like value (reports), one string at a time so JSON escaping cannot hide a secret. */
  redactDeep<T>(value: T): T {
    if (typeof value === 'string') return this.redact(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.redactDeep(v)) as T;
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.redactDeep(v)])) as T;
    }
    return value;
  }
}

/** Process-wide: secrets are registered as soon as they are read (config, STS answers). */
export const redactor = new Redactor();
