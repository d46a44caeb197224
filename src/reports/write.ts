import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes, formatTable } from '../log/format.js';
import { redactor } from '../log/redact.js';
import type { RunReport } from './types.js';

export const REPORT_FILES = { env: 'gestalt-deploy.env', json: 'gestalt-deploy.json', annotations: 'gestalt-annotations.json', plan: 'gestalt-plan.json', doctor: 'gestalt-doctor.json', history: 'gestalt-history.json', verify: 'gestalt-verify.json', prune: 'gestalt-prune.json' } as const;

/**
 * The environment URL GitLab shows: the chosen function's (GESTALT_ENVIRONMENT_URL_FUNCTION or primary: true)
 * when it has one, else the first function (by name) that has one, so the choice never depends on which
 * request finished first.
 */
export function environmentUrl(report: Pick<RunReport, 'functions' | 'environmentUrlFunction'>): string | undefined {
  const chosen = report.environmentUrlFunction ? report.functions.find((f) => f.name === report.environmentUrlFunction && f.url) : undefined;
  return chosen?.url ?? [...report.functions].sort((a, b) => a.name.localeCompare(b.name)).find((f) => f.url)?.url;
}

function dotenv(report: RunReport): string {
  const values: Record<string, string | undefined> = {
    GESTALT_ENVIRONMENT_URL: report.environmentUrl ?? '',
    GESTALT_DEPLOY_STATUS: report.status,
    GESTALT_DEPLOY_MODE: report.mode,
    GESTALT_FUNCTION_COUNT: String(report.functions.filter((f) => !f.error).length),
    GESTALT_DEPLOYMENT_RECORD: report.record,
  };
  // dotenv reports take one KEY=value per line, no quoting; a newline would break the file.
  return Object.entries(values)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${(v ?? '').replace(/[\r\n]+/g, ' ')}`)
    .join('\n')
    .concat('\n');
}

function annotations(report: RunReport): object {
  const links = report.functions
    .filter((f) => f.url && !f.error)
    .map((f) => ({ external_link: { label: f.name, url: f.url as string } }));
  return { gestalt_endpoints: links };
}

/** Writes the three report files; every string goes through the redactor first. */
export async function writeReports(dir: string, report: RunReport): Promise<void> {
  const safe = redactor.redactDeep(report);
  const json = `${JSON.stringify(safe, null, 2)}\n`;
  // Read-only and checking commands have their own file, so the last deploy's report, dotenv and annotations
  // stay when both run in one working directory.
  if (report.command === 'plan') return writeFile(join(dir, REPORT_FILES.plan), json);
  if (report.command === 'doctor') return writeFile(join(dir, REPORT_FILES.doctor), json);
  if (report.command === 'history' || report.command === 'verify' || report.command === 'prune') return writeFile(join(dir, REPORT_FILES[report.command]), json);
  const writes = [writeFile(join(dir, REPORT_FILES.json), json)];
  {
    writes.push(writeFile(join(dir, REPORT_FILES.env), redactor.redact(dotenv(safe))));
    writes.push(writeFile(join(dir, REPORT_FILES.annotations), `${JSON.stringify(annotations(safe), null, 2)}\n`));
  }
  await Promise.all(writes);
}

export function summaryTable(report: RunReport): string {
  const rows = report.functions.map((f) => [
    f.name,
    f.error ? 'FAILED' : f.action,
    f.endpoint ?? '',
    f.upload ? `${f.upload}${f.bytesUploaded ? ` ${formatBytes(f.bytesUploaded)}` : ''}` : '',
    f.error ? f.error : (f.url ?? ''),
  ]);
  const last = report.command === 'stop' ? 'result' : 'url / error';
  return formatTable(['function', 'action', 'endpoint', 'package', last], rows);
}
