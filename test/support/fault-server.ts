// Endpoints that misbehave the ways a real network does, on 127.0.0.1, for Gestalt (Meta, gateway), S3 and STS
// alike: `silent` accepts the connection and never answers; `trickle` sends the headers and then one byte every
// half second, for minutes; `huge` answers with a body of hundreds of MiB as fast as the client reads it.
// Requests the test wants to pass (`forwardTo` + `forward`) go unchanged to a real stand-in instead, so a fault
// can hit one call (an upload) of an otherwise working service.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { closeServer, listen } from './loopback.js';

export type FaultMode = 'silent' | 'trickle' | 'huge';

export interface FaultOptions {
  status?: number;
  contentType?: string;
  /** huge: body size in bytes (default 400 MiB). */
  hugeBytes?: number;
  /** trickle: ms between bytes (default 500). */
  trickleMs?: number;
  /** Requests for which this is true are proxied to `forwardTo` untouched. */
  forward?: (req: IncomingMessage) => boolean;
  forwardTo?: string;
}

export interface FaultRequest {
  method: string;
  path: string;
  at: number;
}

export interface FaultServer {
  url: string;
  mode: FaultMode;
  /** Requests that got the fault (not the forwarded ones). */
  faulted: FaultRequest[];
  forwarded: FaultRequest[];
  /** Bytes of fault bodies written (huge, trickle): shows how much the client actually took. */
  bytesSent: number;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(1024 * 1024, 0x20);

export async function startFaultServer(mode: FaultMode, opts: FaultOptions = {}): Promise<FaultServer> {
  const faulted: FaultRequest[] = [];
  const forwarded: FaultRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const state = { bytesSent: 0 };
  const target = opts.forwardTo ? new URL(opts.forwardTo) : undefined;

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const up = httpRequest({ host: target?.hostname, port: target?.port, method: req.method, path: req.url, headers: req.rawHeaders, setHost: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      answer.pipe(res);
    });
    up.on('continue', () => res.writeContinue());
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const fault = (req: IncomingMessage, res: ServerResponse) => {
    // Drain what the client sends, so it is never the client's write that stalls.
    req.resume();
    if (mode === 'silent') return;
    const head = { 'content-type': opts.contentType ?? 'application/json' };
    const status = opts.status ?? 200;
    if (mode === 'trickle') {
      res.writeHead(status, { ...head, 'content-length': '100000' });
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        res.write(' ');
        state.bytesSent += 1;
      }, opts.trickleMs ?? 500);
      timers.add(timer);
      res.on('close', () => clearInterval(timer));
      return;
    }
    const total = opts.hugeBytes ?? 400 * 1024 * 1024;
    res.writeHead(status, { ...head, 'content-length': String(total) });
    // An answer to HEAD has no body: Node drops what would be written, so none is counted as sent.
    if (req.method === 'HEAD') return void res.end();
    let left = total;
    const pump = () => {
      while (left > 0 && !res.destroyed) {
        const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= piece.length;
        state.bytesSent += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      if (left === 0) res.end();
    };
    pump();
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const entry = { method: req.method ?? '', path: req.url ?? '', at: Date.now() };
    if (target && opts.forward?.(req)) {
      forwarded.push(entry);
      return forward(req, res);
    }
    faulted.push(entry);
    fault(req, res);
  };
  const server = createServer(handle);
  // The SDK may ask for 100-continue before an upload body; forwarded requests let the target decide.
  server.on('checkContinue', (req, res) => {
    if (target && opts.forward?.(req)) return handle(req, res);
    res.writeContinue();
    handle(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    mode,
    faulted,
    forwarded,
    get bytesSent() {
      return state.bytesSent;
    },
    async close() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}
