// Comparing and showing Meta property values: the patch logic of lambdas and endpoints shares these.

/** JSON with object keys sorted, so two equal values compare equal whatever order Meta answers them in. */
export function canonical(value: unknown): string {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  return JSON.stringify(value) ?? 'undefined';
}

const MAX_SHOWN = 160;

/**
 * A setting's current and new value for `plan` and the log. env values are never shown (a job variable may be a
 * credential): only the names, with the ones whose value changes marked. URLs lose their query (a presigned
 * signature is a credential too).
 */
export function showValue(field: string, have: unknown, want: unknown): { from: string; to: string } {
  if (field === 'env') return showEnv(asStrings(have), asStrings(want));
  return { from: show(field, have), to: show(field, want) };
}

function show(field: string, value: unknown): string {
  if (value === undefined || value === null) return '(unset)';
  let text = typeof value === 'string' ? value : canonical(value);
  if (field.endsWith('url')) text = text.split('?')[0] ?? text;
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}

function showEnv(have: Record<string, string>, want: Record<string, string>): { from: string; to: string } {
  const names = (m: Record<string, string>, mark: (k: string) => boolean) =>
    Object.keys(m).sort().map((k) => (mark(k) ? `${k} (new value)` : k)).join(', ') || '(none)';
  return { from: names(have, () => false), to: names(want, (k) => k in have && have[k] !== want[k]) };
}

function asStrings(value: unknown): Record<string, string> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}
