// The fault tests trust this proxy to do exactly what it reports: a proxy that forwarded a "transient" failure
// or never delivered a "late" write would make those tests pass for the wrong reason.
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { serveLoopback } from '../support/loopback.js';
import { randomInt, seededRandom } from '../support/prng.js';

interface Seen {
  method: string;
  path: string;
  body: string;
  at: number;
}

async function upstream() {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const body = JSON.stringify({ ok: true, n: seen.length });
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return { seen, ...(await serveLoopback(server)) };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function setup(opts: Omit<Parameters<typeof startFaultProxy>[0], 'target'>) {
  const up = await upstream();
  const proxy = await startFaultProxy({ target: up.url, ...opts });
  closers.push(up.close, proxy.close);
  return { up, proxy };
}

type Result = { status: number } | { error: string };

async function send(proxy: FaultProxy, method: string, path: string, timeoutMs = 2000): Promise<Result> {
  try {
    const res = await fetch(`${proxy.url}${path}`, {
      method,
      body: method === 'GET' ? undefined : JSON.stringify({ path }),
      headers: method === 'GET' ? {} : { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.text();
    return { status: res.status };
  } catch (err) {
    return { error: (err as Error).name };
  }
}

describe('seeded PRNG', () => {
  it('repeats for a seed, differs between seeds, and stays in range', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const xs = Array.from({ length: 50 }, () => a());
    expect(Array.from({ length: 50 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 50 }, () => c())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const r = seededRandom(1);
    const ints = Array.from({ length: 200 }, () => randomInt(r, 3, 5));
    expect(new Set(ints)).toEqual(new Set([3, 4, 5]));
  });
});

describe('fault proxy', () => {
  it('passes everything through with no rates, body and status unchanged', async () => {
    const { up, proxy } = await setup({ seed: 1 });
    expect(await send(proxy, 'POST', '/a?x=1')).toEqual({ status: 201 });
    expect(up.seen).toMatchObject([{ method: 'POST', path: '/a?x=1', body: JSON.stringify({ path: '/a?x=1' }) }]);
    expect(proxy.requests[0]).toMatchObject({ seq: 0, method: 'POST', outcome: 'passed', upstreamStatus: 201, clientGone: false });
    expect(proxy.counts).toEqual({ passed: 1, transient: 0, dropped: 0, late: 0 });
  });

  it('transient: answers 503 itself; the upstream never sees the request', async () => {
    const { up, proxy } = await setup({ seed: 1, rates: { transient: 1 } });
    expect(await send(proxy, 'POST', '/t')).toEqual({ status: 503 });
    expect(await send(proxy, 'DELETE', '/t')).toEqual({ status: 503 });
    expect(up.seen).toEqual([]);
    expect(proxy.counts.transient).toBe(2);
  });

  it('dropped: the upstream acts, the client only sees a closed connection', async () => {
    const { up, proxy } = await setup({ seed: 1, rates: { dropped: 1 } });
    const r = await send(proxy, 'PATCH', '/d');
    expect(r).toHaveProperty('error');
    expect(up.seen.map((s) => s.method)).toEqual(['PATCH']);
    expect(proxy.requests[0]).toMatchObject({ outcome: 'dropped', upstreamStatus: 201, clientGone: true });
  });

  it('late: the write reaches the upstream after the client gave up, and settle() waits for it', async () => {
    const { up, proxy } = await setup({ seed: 1, rates: { late: 1 }, lateMs: 400 });
    const r = await send(proxy, 'POST', '/l', 150);
    const gaveUp = Date.now();
    expect(r).toEqual({ error: 'TimeoutError' });
    expect(up.seen).toEqual([]);
    await proxy.settle();
    expect(up.seen).toHaveLength(1);
    expect(up.seen[0]?.at).toBeGreaterThan(gaveUp);
    expect(proxy.requests[0]).toMatchObject({ outcome: 'late', upstreamStatus: 201, clientGone: true });
  });

  it('faults writes only by default; GETs too when asked', async () => {
    const writesOnly = await setup({ seed: 3, rates: { transient: 1 } });
    expect(await send(writesOnly.proxy, 'GET', '/g')).toEqual({ status: 201 });
    expect(writesOnly.proxy.requests[0]?.outcome).toBe('passed');
    const withGets = await setup({ seed: 3, rates: { transient: 1 }, methods: ['GET', 'POST'] });
    expect(await send(withGets.proxy, 'GET', '/g')).toEqual({ status: 503 });
  });

  it('the same seed and request order give the same faults; setRates({}) turns them off', async () => {
    const outcomes = async (seed: number) => {
      const { proxy } = await setup({ seed, rates: { transient: 0.3, dropped: 0.2 } });
      for (let i = 0; i < 30; i++) await send(proxy, 'POST', `/r${i}`);
      const seq = proxy.requests.map((r) => r.outcome);
      proxy.setRates({});
      for (let i = 0; i < 5; i++) expect(await send(proxy, 'POST', `/after${i}`)).toEqual({ status: 201 });
      expect(proxy.summary()).toMatch(new RegExp(`^seed ${seed}: 35 requests, \\d+ transient, \\d+ dropped, 0 late$`));
      return seq;
    };
    const first = await outcomes(7);
    expect(await outcomes(7)).toEqual(first);
    expect(new Set(first)).toEqual(new Set(['passed', 'transient', 'dropped']));
    expect(await outcomes(8)).not.toEqual(first);
  });

  it('a gate holds requests until the test lets them go', async () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const { up, proxy } = await setup({ seed: 1, gate: (r) => (r.method === 'POST' ? opened : undefined) });
    const post = send(proxy, 'POST', '/held');
    expect(await send(proxy, 'GET', '/free')).toEqual({ status: 201 });
    expect(up.seen.map((s) => s.path)).toEqual(['/free']);
    open();
    expect(await post).toEqual({ status: 201 });
    expect(up.seen.map((s) => s.path)).toEqual(['/free', '/held']);
  });
});
