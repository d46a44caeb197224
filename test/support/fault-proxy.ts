// HTTP proxy on 127.0.0.1 in front of any stand-in (Meta emulator, gateway fake) that injects the faults a real
// network and a slow Gestalt produce, decided per request by a seeded PRNG so a failing run can be repeated:
//
// - transient: answer 503 without forwarding (nothing happened upstream; a retry is safe);
// - dropped:   forward, let the upstream act, then destroy the client's socket (it happened, the answer is lost);
// - late:      hold the request past the client's timeout, then forward it anyway (it happens after the client
//              gave up, possibly after the client already tried again).
//
// Only write methods are faulted unless told otherwise. Every request is kept with its body and timing, so a test
// can tell what reached the upstream, when, and what the client never saw.
import { Agent, createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { closeServer, forwardTo, listen } from './loopback.js';
import { seededRandom } from './prng.js';

export type Fault = 'transient' | 'dropped' | 'late';
export type Outcome = Fault | 'passed';

/** Probability per faultable request of each fault; they are exclusive, so their sum must stay ≤ 1. */
export interface FaultRates {
  transient?: number;
  dropped?: number;
  late?: number;
}

export interface FaultProxyOptions {
  /** Upstream base URL (http://127.0.0.1:port); the request path is appended unchanged. */
  target: string;
  seed: number;
  rates?: FaultRates;
  /** How long a late request is held before it is forwarded; make it longer than the client's timeout. */
  lateMs?: number;
  /** Methods that may be faulted; default the writes POST, PATCH, DELETE. Add 'GET' to fault reads too. */
  methods?: string[];
  /**
   * Awaited after a request arrived (and its fault was drawn) and before it is acted on: lets a test hold
   * requests until some condition holds, e.g. until two concurrent runs both finished their lookups.
   */
  gate?: (req: ProxiedRequest) => Promise<void> | void;
}

export interface ProxiedRequest {
  /** Arrival order, from 0. */
  seq: number;
  method: string;
  /** Path with query string, as the client sent it. */
  path: string;
  body: string;
  outcome: Outcome;
  arrivedAt: number;
  /** When the upstream's answer was complete; unset while pending, and for transient faults (never forwarded). */
  answeredAt?: number;
  upstreamStatus?: number;
  /** The client closed the connection before it got an answer (its timeout, or a dropped answer). */
  clientGone: boolean;
}

export interface FaultProxy {
  url: string;
  seed: number;
  requests: ProxiedRequest[];
  counts: Record<Outcome, number>;
  /** Changes the rates from the next request on; `{}` turns faults off. */
  setRates(rates: FaultRates): void;
  /** e.g. "seed 7: 47 requests, 9 transient, 2 dropped, 1 late" — for assertion messages. */
  summary(): string;
  /** Resolves once every request that arrived so far has been answered upstream (held ones included). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

const WRITE_METHODS = ['POST', 'PATCH', 'DELETE'];
// Hop-by-hop headers of the upstream's answer that must not be copied to our own (we send a full body).
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding'];

interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target);
  if (target.protocol !== 'http:') throw new Error(`fault proxy supports http targets only, got ${opts.target}`);
  const random = seededRandom(opts.seed);
  const faultable = new Set((opts.methods ?? WRITE_METHODS).map((m) => m.toUpperCase()));
  const lateMs = opts.lateMs ?? 1500;
  let rates: FaultRates = { ...opts.rates };
  const requests: ProxiedRequest[] = [];
  const counts: Record<Outcome, number> = { passed: 0, transient: 0, dropped: 0, late: 0 };
  const pending = new Set<Promise<void>>();
  const holds = new Set<{ timer: NodeJS.Timeout; resolve: (forward: boolean) => void }>();
  const agent = new Agent({ keepAlive: true });
  let closed = false;

  /** One draw per faultable request, in arrival order, so the outcomes depend only on the seed and that order. */
  const decide = (method: string): Outcome => {
    if (!faultable.has(method)) return 'passed';
    const r = random();
    const transient = rates.transient ?? 0;
    const dropped = rates.dropped ?? 0;
    const late = rates.late ?? 0;
    if (r < transient) return 'transient';
    if (r < transient + dropped) return 'dropped';
    if (r < transient + dropped + late) return 'late';
    return 'passed';
  };

  const hold = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const h = {
        timer: setTimeout(() => {
          holds.delete(h);
          resolve(true);
        }, ms),
        resolve,
      };
      holds.add(h);
    });

  const forward = (req: IncomingMessage, body: Buffer): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      // The body was read whole: it is forwarded exactly as it arrived, after the hold for a late write.
      const upstream = forwardTo(target, req, agent);
      upstream.on('response', (up) => {
        readAll(up).then((b) => resolve({ status: up.statusCode ?? 502, headers: up.headers, body: b }), reject);
      });
      upstream.on('error', reject);
      upstream.end(body);
    });

  const answer = (res: ServerResponse, status: number, headers: IncomingHttpHeaders, body: Buffer | string): void => {
    if (res.destroyed || res.headersSent) return;
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.includes(k)) out[k] = v;
    out['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, out);
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const entry: ProxiedRequest = {
      seq: requests.length,
      method,
      path: req.url ?? '/',
      body: '',
      outcome: decide(method),
      arrivedAt: Date.now(),
      clientGone: false,
    };
    requests.push(entry);
    counts[entry.outcome] += 1;
    res.once('close', () => {
      if (!res.writableFinished) entry.clientGone = true;
    });
    const body = await readAll(req).catch(() => Buffer.alloc(0));
    entry.body = body.toString('utf8');
    await opts.gate?.(entry);
    if (closed) return;

    if (entry.outcome === 'transient') {
      const text = JSON.stringify({ code: 503, message: 'Service Unavailable (injected by the fault proxy)' });
      answer(res, 503, { 'content-type': 'application/json' }, text);
      return;
    }
    // The late request stays in flight at the client until its timeout fires; it reaches the upstream afterwards.
    if (entry.outcome === 'late' && !(await hold(lateMs))) return;

    let up: Upstream;
    try {
      up = await forward(req, body);
    } catch (err) {
      entry.answeredAt = Date.now();
      entry.upstreamStatus = 502;
      answer(res, 502, { 'content-type': 'text/plain' }, `fault proxy: upstream failed (${(err as Error).message})`);
      return;
    }
    entry.answeredAt = Date.now();
    entry.upstreamStatus = up.status;
    if (entry.outcome === 'dropped') {
      // The upstream acted; the client learns nothing but a closed connection.
      entry.clientGone = true;
      req.socket.destroy();
      return;
    }
    answer(res, up.status, up.headers, up.body);
  };

  const server = createServer((req, res) => {
    const p: Promise<void> = handle(req, res)
      .catch(() => void res.destroy())
      .finally(() => pending.delete(p));
    pending.add(p);
  });
  const port = await listen(server);

  return {
    url: `http://127.0.0.1:${port}`,
    seed: opts.seed,
    requests,
    counts,
    setRates(next) {
      rates = { ...next };
    },
    summary() {
      const faults = (['transient', 'dropped', 'late'] as const).map((k) => `${counts[k]} ${k}`).join(', ');
      return `seed ${opts.seed}: ${requests.length} requests, ${faults}`;
    },
    async settle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    async close() {
      closed = true;
      // Held requests are dropped, not forwarded: after close nothing may reach the upstream any more.
      for (const h of holds) {
        clearTimeout(h.timer);
        h.resolve(false);
      }
      holds.clear();
      await closeServer(server);
      agent.destroy();
    },
  };
}
