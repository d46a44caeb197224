// Loopback HTTP server that publishes the repository's templates the way a GitLab instance serves raw files, so a
// project can `include: remote:` them. Files are read on every request: an edited template is what the next
// pipeline gets (gitlab-ci-local still caches includes unless it runs with --fetch-includes).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveLoopback } from './loopback.js';

/** The repository root: the nearest directory above this file with the template (also from an esbuild bundle). */
export const REPO_ROOT: string = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'templates/deploy.gitlab-ci.yml')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no templates/deploy.gitlab-ci.yml above ${from}`);
  }
}

export interface TemplateServer {
  /** Base URL; `${url}/templates/deploy.gitlab-ci.yml` is the template. */
  url: string;
  /** URL of templates/deploy.gitlab-ci.yml. */
  templateUrl: string;
  /** Paths requested, in order (a pipeline that did not fetch the template did not test it). */
  requests: string[];
  close(): Promise<void>;
}

export interface TemplateServerOptions {
  /** Directory served; default the repository root. Only files under `templates/` are published. */
  root?: string;
}

export async function startTemplateServer(opts: TemplateServerOptions = {}): Promise<TemplateServer> {
  const root = resolve(opts.root ?? REPO_ROOT);
  const published = resolve(root, 'templates');
  const requests: string[] = [];

  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    requests.push(path);
    const file = resolve(root, `.${path}`);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !file.startsWith(published + sep)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 Not Found\n');
      return;
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404 Not Found\n');
      },
    );
  });
  const { url, close } = await serveLoopback(server);
  return { url, templateUrl: `${url}/templates/deploy.gitlab-ci.yml`, requests, close };
}
