import { request as httpRequest } from 'node:http';
import type { Agent, ClientRequest, IncomingMessage, Server } from 'node:http';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

// The plumbing every stand-in and harness shares: servers on 127.0.0.1 that close for real, and child
// processes whose output is captured whole.

/** Binds 127.0.0.1 on a free port; resolves to the port. */
export function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const addr = server.address();
      if (addr === null || typeof addr === 'string') reject(new Error('no TCP address'));
      else resolve(addr.port);
    });
  });
}

/** Stops the server and drops every connection: keep-alive agents and held requests must not keep a test alive. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** listen + closeServer, as the `{ url, close }` most stand-ins hand out. */
export async function serveLoopback(server: Server): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const port = await listen(server);
  return { port, url: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
}

/**
 * The request a proxy sends on to `target` for `req`: same method, path and raw headers (order, case and
 * duplicates kept; Host stays the proxy's, so a SigV4 signature made for the proxy still verifies). The caller
 * writes the body and handles the answer.
 */
export function forwardTo(target: URL, req: IncomingMessage, agent: Agent): ClientRequest {
  return httpRequest({
    host: target.hostname,
    port: target.port || 80,
    method: req.method,
    path: req.url,
    headers: req.rawHeaders,
    agent,
    setHost: false,
  });
}

export interface Captured {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
  ms: number;
}

export interface RunCapturedOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Called once the child runs, e.g. to send it a signal at a chosen moment (a cancelled CI job). */
  onSpawn?: (child: ChildProcess) => void;
}

/** Runs a command with no stdin, capturing its output; SIGKILLs it after `timeoutMs`. */
export function runCaptured(command: string, args: string[], opts: RunCapturedOptions): Promise<Captured> {
  const started = Date.now();
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  opts.onSpawn?.(child);
  const out = { stdout: '', stderr: '', output: '' };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('utf8');
    child[stream].on('data', (s: string) => {
      out[stream] += s;
      out.output += s;
    });
  }
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // 'close' rather than 'exit': it waits for both pipes to drain, so no output is lost.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, ...out, ms: Date.now() - started });
    });
  });
}
