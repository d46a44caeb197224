import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { connectTimeoutMs, deadlineMs, DeadlineExceeded, MAX_BODY_BYTES, ResponseTooLarge } from './http.js';

// The AWS SDK's side of the timeout policy in src/net/http.ts, for S3 and STS alike. The SDK's own handler
// settings bound connecting (connectionTimeout) and waiting for the headers (requestTimeout, which with this
// @smithy/node-http-handler version only logs a warning unless throwOnRequestTimeout is set). Neither covers the
// body: an abort signal per try does, and the body passes through a counter that stops at MAX_BODY_BYTES.
// Retries stay the SDK's (S3) or ours (STS): both treat the TimeoutError raised here as transient.

type Request = Parameters<NodeHttpHandler['handle']>[0];
type Options = NonNullable<Parameters<NodeHttpHandler['handle']>[1]>;
type Handled = Awaited<ReturnType<NodeHttpHandler['handle']>>;

/**
 * A request body this handler opens anew for each try. The SDK does not retry a request whose body is a stream
 * (it would have been consumed), so a body that can be read again is handed to it as this, and becomes a stream
 * only here. `sha256` is the hex SHA-256 of what every opening yields.
 */
export interface ReopenableBody {
  readonly sha256: string;
  open(): Readable;
}

export function isReopenable(body: unknown): body is ReopenableBody {
  return typeof body === 'object' && body !== null && typeof (body as ReopenableBody).open === 'function' && typeof (body as ReopenableBody).sha256 === 'string';
}

export class BoundedHttpHandler extends NodeHttpHandler {
  constructor(
    private readonly timeoutMs: number,
    private readonly maxBodyBytes = MAX_BODY_BYTES,
  ) {
    super({ connectionTimeout: connectTimeoutMs(timeoutMs), requestTimeout: timeoutMs, throwOnRequestTimeout: true });
  }

  override async handle(request: Request, options: Options = {}): Promise<Handled> {
    const endpoint = endpointOfRequest(request);
    const ms = deadlineMs(this.timeoutMs, sendBytes(request));
    const expired = new AbortController();
    const timer = setTimeout(() => expired.abort(), ms);
    // Never the reason the process stays alive: the deadline only matters while someone waits for the answer.
    timer.unref();
    const caller = options.abortSignal as AbortSignal | undefined;
    const abortSignal = caller ? AbortSignal.any([caller, expired.signal]) : expired.signal;
    let handled: Handled;
    try {
      handled = await super.handle(opened(request), { ...options, abortSignal, requestTimeout: ms });
    } catch (err) {
      clearTimeout(timer);
      const name = (err as Error)?.name;
      if (name === 'TimeoutError' && /establish a connection/.test((err as Error).message)) {
        throw new DeadlineExceeded(endpoint, connectTimeoutMs(this.timeoutMs), 'connect', undefined, { cause: err });
      }
      if (expired.signal.aborted || name === 'TimeoutError') throw new DeadlineExceeded(endpoint, ms, 'answer', undefined, { cause: err });
      throw err;
    }
    const { response } = handled;
    response.body = boundBody(response.body as Readable, {
      maxBytes: this.maxBodyBytes,
      expired: expired.signal,
      onDone: () => clearTimeout(timer),
      tooLarge: () => new ResponseTooLarge(endpoint, response.statusCode),
      late: () => new DeadlineExceeded(endpoint, ms, 'answer', response.statusCode),
    });
    return handled;
  }
}

interface BodyBounds {
  maxBytes: number;
  expired: AbortSignal;
  onDone: () => void;
  tooLarge: () => Error;
  late: () => Error;
}

/** The body as the SDK and callers read it, ended with a clear error at the byte cap or the deadline. */
function boundBody(source: Readable, bounds: BodyBounds): Readable {
  let seen = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      seen += chunk.length;
      if (seen > bounds.maxBytes) done(bounds.tooLarge());
      else done(null, chunk);
    },
    flush(done: TransformCallback) {
      // The whole body has arrived: the deadline no longer applies, however slowly the caller reads it.
      finish();
      done();
    },
  });
  const onExpired = () => counted.destroy(bounds.late());
  const finish = () => {
    bounds.expired.removeEventListener('abort', onExpired);
    bounds.onDone();
  };
  if (bounds.expired.aborted) onExpired();
  else bounds.expired.addEventListener('abort', onExpired, { once: true });
  // pipeline destroys the source (and with it the connection) when the counter stops early.
  pipeline(source, counted, () => finish());
  return counted;
}

/** The request with a reopenable body opened for this try; the SDK's request (kept for its retries) is left as it was. */
function opened(request: Request): Request {
  if (!isReopenable(request.body)) return request;
  return Object.assign(Object.create(Object.getPrototypeOf(request) as object) as Request, request, { body: request.body.open() });
}

function endpointOfRequest(request: Request): string {
  const port = request.port ? `:${request.port}` : '';
  return `${request.protocol}//${request.hostname}${port}${request.path}`;
}

function sendBytes(request: Request): number {
  const headers = request.headers ?? {};
  const declared = Number(headers['content-length'] ?? headers['Content-Length']);
  if (Number.isFinite(declared) && declared > 0) return declared;
  const body: unknown = request.body;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return 0;
}
