// How AWS SDK errors identify themselves, for every module that talks to AWS (credentials and storage alike).

export interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export function awsErrorName(err: unknown): string {
  const e = err as SdkErrorShape;
  return e?.name ?? e?.code ?? 'Error';
}

export function awsStatus(err: unknown): number | undefined {
  return (err as SdkErrorShape)?.$metadata?.httpStatusCode;
}

/** Connection-level failures: the request never got an HTTP answer. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'TimeoutError', 'RequestTimeout']);

/** The network error code (ECONNREFUSED, ENOTFOUND, …) somewhere in an SDK error's chain, if that is what it is. */
export function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const shape = e as SdkErrorShape;
    if (shape.$metadata?.httpStatusCode !== undefined) return undefined;
    for (const candidate of [shape.code, shape.name]) if (candidate && NETWORK_CODES.has(candidate)) return candidate;
    // Node wraps parallel connection attempts (IPv4 and IPv6) in an AggregateError.
    const inner = (e as { errors?: unknown[] }).errors?.map(networkCode).find(Boolean);
    if (inner) return inner;
  }
  return undefined;
}

/** The SDK's default credential chain found nothing (no role, no keys, no profile, no instance role). */
export function isMissingCredentials(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (awsErrorName(e) === 'CredentialsProviderError') return true;
  }
  return false;
}
