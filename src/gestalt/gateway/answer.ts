import { redactor } from '../../log/redact.js';

// How the original deployment lambda answers: JSON on success, and on failure HTTP 200 with its
// plain-text log. Anything that is not a JSON success answer is a failure of that function.

export interface GatewayDeployAnswer {
  lambda: string;
  api_endpoint?: string;
  external_url?: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const KNOWN_ERRORS: [RegExp, string][] = [
  [/could not find target org/i, "the lambda's TARGET_ORG does not name an org it can see; fix the deployment lambda's TARGET_ORG variable"],
  [/could not find target environment/i, 'check LAMBDA_ENVIRONMENT_ID is the id of an environment in that org'],
  [/could not find target API/i, 'check LAMBDA_API names an API in that environment'],
  [/error creating lambda/i, "Meta refused the lambda; check LAMBDA_RUNTIME and the deployment lambda's LAMBDA_PROVIDER_ID"],
];

/** The first `ERROR:` line of the log, with advice when we recognise it. */
export function explainLog(text: string): string {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => /\bERROR\b/.test(l));
  // Redacted before it is cut short: a cut secret no longer matches the secret.
  const shown = redactor.quote(line ?? text.trim().split(/\r?\n/)[0] ?? '', 200);
  const advice = KNOWN_ERRORS.find(([re]) => re.test(shown))?.[1];
  return advice ? `'${shown}': ${advice}` : `'${shown || '(empty answer)'}'`;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function parseDeployAnswer(text: string): Parsed<GatewayDeployAnswer> {
  const obj = parseObject(text);
  if (!obj) return { ok: false, reason: `answered with a log instead of JSON: ${explainLog(text)}` };
  if (typeof obj.lambda !== 'string' || !/^lambda (created|patched)$/.test(obj.lambda)) {
    return { ok: false, reason: `answered JSON without a lambda result: ${redactor.quote(JSON.stringify(obj), 200)}` };
  }
  return { ok: true, value: { lambda: obj.lambda, api_endpoint: str(obj.api_endpoint), external_url: str(obj.external_url) } };
}

/**
 * The original stop answers `{"lambda_name": "<name>", "endpoints": [...]}` when it removed the function and
 * `{}` when there was nothing of that name. Anything else — a log, an `error` field, another shape — is a
 * failure, and the function stays in the record.
 */
export function parseStopAnswer(text: string): Parsed<{ removed: boolean; endpoints: number }> {
  const obj = parseObject(text);
  if (!obj) return { ok: false, reason: `answered with a log instead of JSON: ${explainLog(text)}` };
  const keys = Object.keys(obj);
  if (keys.length === 0) return { ok: true, value: { removed: false, endpoints: 0 } };
  const shaped = typeof obj.lambda_name === 'string' && (obj.endpoints === undefined || Array.isArray(obj.endpoints)) && keys.every((k) => k === 'lambda_name' || k === 'endpoints');
  if (!shaped) return { ok: false, reason: `answered JSON that is not a stop result: ${explainLog(JSON.stringify(obj))}` };
  return { ok: true, value: { removed: true, endpoints: Array.isArray(obj.endpoints) ? obj.endpoints.length : 0 } };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
