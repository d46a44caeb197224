import { ofetch, FetchError } from 'ofetch';
import type { Logger } from '../log/logger.js';
import { cancellation } from './cancel.js';
import { withRetry, type RetryPolicy } from './retry.js';

// The one HTTP path for Gestalt (gateway and Meta): a timeout on every call, and retries only for
// failures that say nothing about the request itself — network errors, timeouts, 429 and 5xx.

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

/** The request never got an HTTP answer: connection refused/reset, DNS, or our timeout. */
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
}

/** Statuses that say nothing about the request itself: worth asking again. */
export const isTransientStatus = (status: number): boolean => status === 429 || status >= 500;

class TransientStatus extends Error {
  constructor(readonly response: HttpResponse) {
    super(`HTTP ${response.status}`);
  }
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const once = async (req: HttpRequest): Promise<HttpResponse> => {
    const started = Date.now();
    try {
      const res = await ofetch.raw(req.url, {
        method: req.method,
        headers: { accept: 'application/json', ...(req.json !== undefined ? { 'content-type': 'application/json' } : {}), ...req.headers },
        body: req.json === undefined ? undefined : JSON.stringify(req.json),
        retry: 0,
        ignoreResponseError: true,
        responseType: 'text',
        redirect: 'manual',
        // ofetch ignores its own timeout when given a signal: one signal carries both the deadline and, after a
        // cancelled job's grace period, the abort of calls still waiting.
        signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), cancellation.abortSignal]),
      });
      const response = { status: res.status, headers: res.headers, text: (res._data as string | undefined) ?? '' };
      options.log.debug(`${req.method} ${req.url} → ${res.status} (${Date.now() - started} ms)`);
      return response;
    } catch (err) {
      if (cancellation.abortSignal.aborted) throw cancellation.abortSignal.reason;
      const timedOut = isTimeout(err);
      options.log.debug(`${req.method} ${req.url} → ${timedOut ? 'timeout' : 'network error'} (${Date.now() - started} ms)`);
      throw new NetworkError(
        timedOut
          ? `no answer within ${Math.round(options.timeoutMs / 1000)} s`
          : `connection failed (${rootCause(err)})`,
        timedOut,
        { cause: err },
      );
    }
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
