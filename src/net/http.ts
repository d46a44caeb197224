import { ofetch, FetchError } from 'ofetch';
import { RemoteError } from '../errors.js';
import { cancellation } from './cancel.js';
import type { Logger } from '../log/logger.js';
import { withRetry, type RetryPolicy } from './retry.js';

// The one HTTP path for Gestalt (gateway and Meta), and the timeout policy every remote call shares (Gestalt here,
// S3 and STS through src/net/aws-http.ts): each try gets GESTALT_HTTP_TIMEOUT for connecting, sending and
// reading the whole answer, and no answer is read into memory past MAX_BODY_BYTES. Retries only for failures that
// say nothing about the request itself — network errors, timeouts, 429 and 5xx.

/** Connecting alone may take this long at most (or GESTALT_HTTP_TIMEOUT, when that is shorter). */
export const CONNECT_TIMEOUT_MS = 10_000;
/** The largest answer read into memory: error bodies, lists, records, STS answers. Far above any real one. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Uploads get one more second per full MiB they send, so a slow link can still move a package part. */
export const UPLOAD_MS_PER_MIB = 1000;

const MIB = 1024 * 1024;

export function connectTimeoutMs(timeoutMs: number): number {
  return Math.min(CONNECT_TIMEOUT_MS, timeoutMs);
}

/** The whole time one try may take: the timeout, plus the allowance for the bytes it sends. */
export function deadlineMs(timeoutMs: number, sendBytes = 0): number {
  return timeoutMs + Math.floor(sendBytes / MIB) * UPLOAD_MS_PER_MIB;
}

/** An endpoint as messages name it: scheme, host, port and path — never userinfo or the query (signatures). */
export function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * A try ran out of time: no connection, no answer, or an answer that did not arrive whole. Named TimeoutError
 * because that is the name the AWS SDK's retry rules (and ours) treat as transient.
 */
export class DeadlineExceeded extends Error {
  /** Set so the SDK's deserializer leaves the message alone; the status is the answer's, when headers came. */
  readonly $metadata: { httpStatusCode?: number };
  constructor(
    readonly endpoint: string,
    readonly ms: number,
    phase: 'connect' | 'answer',
    status?: number,
    options?: { cause?: unknown },
  ) {
    super(
      phase === 'connect'
        ? `could not connect to ${endpoint} within ${seconds(ms)} (GESTALT_HTTP_TIMEOUT caps connecting at ${seconds(CONNECT_TIMEOUT_MS)})`
        : `no complete answer from ${endpoint} within ${seconds(ms)} (GESTALT_HTTP_TIMEOUT)`,
      options,
    );
    this.name = 'TimeoutError';
    this.$metadata = status === undefined ? {} : { httpStatusCode: status };
  }
}

/** An answer larger than anything gestalt-deploy reads: not retried, since asking again brings the same. */
export class ResponseTooLarge extends RemoteError {
  readonly $metadata: { httpStatusCode?: number };
  /** What happened, without the advice: callers that know the variable name their own. */
  readonly detail: string;
  constructor(readonly endpoint: string, status?: number) {
    const detail = `the answer from ${endpoint}${status ? ` (HTTP ${status})` : ''} is larger than ${MAX_BODY_BYTES / MIB} MiB, more than gestalt-deploy reads from any service`;
    super(`${detail}; check that the URL points at the right service.`);
    this.name = 'ResponseTooLarge';
    this.detail = detail;
    this.$metadata = status === undefined ? {} : { httpStatusCode: status };
  }
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  json?: unknown;
  /** false for calls that must not be repeated blindly (a create whose outcome is unknown). */
  retry?: boolean;
  /** false: retry refused connections and 429/5xx, but not a call that timed out (it may still be running). */
  retryTimeouts?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** The request never got a complete HTTP answer: connection refused/reset, DNS, or our deadline. */
export class NetworkError extends Error {
  readonly timedOut: boolean;
  constructor(message: string, timedOut: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetworkError';
    this.timedOut = timedOut;
  }
}

export interface HttpClient {
  request(req: HttpRequest): Promise<HttpResponse>;
}

export interface HttpClientOptions {
  timeoutMs: number;
  retry: RetryPolicy;
  log: Logger;
  maxBodyBytes?: number;
}

/** Statuses that say nothing about the request itself: worth asking again. */
export const isTransientStatus = (status: number): boolean => status === 429 || status >= 500;

class TransientStatus extends Error {
  constructor(readonly response: HttpResponse) {
    super(`HTTP ${response.status}`);
  }
}

/**
 * Reads a fetch body whole, but no further than `maxBytes`: past it the connection is dropped and
 * ResponseTooLarge thrown. The caller's abort signal (the try's deadline) ends a body that trickles.
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null | undefined, maxBytes: number, tooLarge: () => Error): Promise<string> {
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const once = async (req: HttpRequest): Promise<HttpResponse> => {
    const started = Date.now();
    const endpoint = endpointOf(req.url);
    // One signal for the whole try: ofetch's own `timeout` stops at the headers, this one also ends the body.
    // Connecting is capped at CONNECT_TIMEOUT_MS by Node's fetch itself, and by this deadline when shorter.
    const deadline = AbortSignal.timeout(options.timeoutMs);
    const failed = (err: unknown, phase: string): NetworkError => {
      const timedOut = deadline.aborted || isTimeout(err);
      options.log.debug(`${req.method} ${req.url} → ${timedOut ? 'timeout' : 'network error'} ${phase} (${Date.now() - started} ms)`);
      return new NetworkError(
        timedOut ? new DeadlineExceeded(endpoint, options.timeoutMs, 'answer').message : `connection to ${endpoint} failed ${phase} (${rootCause(err)})`,
        timedOut,
        { cause: err },
      );
    };
    let res;
    try {
      res = await ofetch.raw(req.url, {
        method: req.method,
        headers: { accept: 'application/json', ...(req.json !== undefined ? { 'content-type': 'application/json' } : {}), ...req.headers },
        body: req.json === undefined ? undefined : JSON.stringify(req.json),
        // After a cancelled job's grace period, calls still waiting give up too.
        signal: AbortSignal.any([deadline, cancellation.abortSignal]),
        retry: 0,
        ignoreResponseError: true,
        responseType: 'stream',
        redirect: 'manual',
      });
    } catch (err) {
      if (cancellation.abortSignal.aborted) throw cancellation.abortSignal.reason;
      throw failed(err, 'before an answer');
    }
    let text: string;
    try {
      text = req.method === 'HEAD' ? '' : await readCapped(res.body, maxBodyBytes, () => new ResponseTooLarge(endpoint, res.status));
    } catch (err) {
      if (err instanceof ResponseTooLarge) {
        options.log.debug(`${req.method} ${req.url} → ${res.status}, answer over ${maxBodyBytes} bytes (${Date.now() - started} ms)`);
        throw err;
      }
      if (cancellation.abortSignal.aborted) throw cancellation.abortSignal.reason;
      throw failed(err, 'while reading the answer');
    }
    options.log.debug(`${req.method} ${req.url} → ${res.status} (${Date.now() - started} ms)`);
    return { status: res.status, headers: res.headers, text };
  };

  return {
    async request(req) {
      if (req.retry === false) return once(req);
      try {
        return await withRetry(
          async () => {
            const res = await once(req);
            if (isTransientStatus(res.status)) throw new TransientStatus(res);
            return res;
          },
          (err) => (err instanceof TransientStatus || (err instanceof NetworkError && (req.retryTimeouts !== false || !err.timedOut)) ? 'retry' : 'fail'),
          options.retry,
          {
            onRetry: ({ attempt, delayMs, error }) =>
              options.log.info(`  ${req.method} ${req.url}: ${describe(error)}; retry ${attempt} in ${delayMs} ms`),
          },
        );
      } catch (err) {
        // Out of retries on a 429/5xx: hand the last answer to the caller, which knows how to word it.
        if (err instanceof TransientStatus) return err.response;
        throw err;
      }
    },
  };
}

function describe(err: unknown): string {
  if (err instanceof TransientStatus) return `HTTP ${err.response.status}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

function isTimeout(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return true;
  }
  return false;
}

function rootCause(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  if (e instanceof FetchError) return e.message;
  if (e instanceof Error) return (e as NodeJS.ErrnoException).code ?? e.message;
  return String(e);
}
