import { describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useMetaWorld } from './meta-setup.js';
import { runCli } from '../support/run-cli.js';
import { GF_SECRET, projectWithPackages, s3Writes } from './setup.js';

// deploy with GESTALT_PLAN applies exactly what the plan reviewed: a package or Gestalt state changed since
// the plan makes it refuse before its first write (exit 1, nothing written); an unchanged plan deploys.

const w = useMetaWorld();
const env = w.env;

const planned = (dir: string) => env(dir, { GESTALT_PLAN: 'gestalt-plan.json' });

/** Deploys once, changes hello.zip, and plans that change. */
async function deployedAndPlanned(): Promise<string> {
  const dir = await projectWithPackages(['hello.zip', 'orders.zip']);
  expect((await runCli(['deploy'], { env: env(dir), cwd: dir })).code).toBe(0);
  await writeFile(join(dir, 'dist/hello.zip'), 'PK-hello-v2');
  const plan = await runCli(['plan'], { env: env(dir), cwd: dir });
  expect(plan.code, plan.output).toBe(0);
  return dir;
}

/** Runs the deploy of the plan and checks it wrote nothing anywhere: no Meta write, no S3 PUT/POST/DELETE. */
async function refused(dir: string, why: RegExp) {
  const lambdas = JSON.stringify(w.meta.lambdas());
  const from = w.stack.proxy.requests.length;
  w.meta.clearRequests();
  const r = await runCli(['deploy'], { env: planned(dir), cwd: dir });
  expect(r.code, r.output).toBe(1);
  expect(r.output).toMatch(/GESTALT_PLAN: the reviewed plan .*gestalt-plan\.json no longer holds, so nothing was changed/);
  expect(r.output).toMatch(why);
  expect(w.meta.requests.filter((q) => q.method !== 'GET')).toEqual([]);
  expect(s3Writes(w.stack, from)).toEqual([]);
  expect(JSON.stringify(w.meta.lambdas())).toBe(lambdas);
  expect(r.files.json.status).toBe('failed');
}

describe('deploy with GESTALT_PLAN', () => {
  it('an unchanged plan deploys what it reviewed', async () => {
    const dir = await deployedAndPlanned();
    const r = await runCli(['deploy'], { env: planned(dir), cwd: dir });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/gestalt-plan\.json still holds/);
    expect(r.files.json.functions.map((f: { name: string; action: string }) => [f.name, f.action])).toEqual([
      ['lambdas/main/hello.zip', 'updated'],
      ['lambdas/main/orders.zip', 'unchanged'],
    ]);
  });

  it('a package changed after the plan: refuses, naming it, and writes nothing', async () => {
    const dir = await deployedAndPlanned();
    await writeFile(join(dir, 'dist/orders.zip'), 'PK-orders-changed');
    await refused(dir, /the package of 'lambdas\/main\/orders\.zip' changed/);
  });

  it('a lambda changed in Gestalt after the plan: refuses, naming it, and writes nothing', async () => {
    const dir = await deployedAndPlanned();
    const lambda = w.meta.lambdas().find((l) => l.name === 'lambdas/main/orders.zip');
    const res = await fetch(`${w.meta.url}/root/environments/${w.envId}/lambdas/${lambda.id}`, {
      method: 'PATCH',
      headers: { authorization: `Basic ${Buffer.from(`gf-key:${GF_SECRET}`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ op: 'replace', path: '/properties/memory', value: 1024 }]),
    });
    expect(res.status).toBeLessThan(300);
    await refused(dir, new RegExp(`Gestalt's lambda 'lambdas/main/orders\\.zip' changed since the plan \\(${lambda.id} digest`));
  });

  it('a function added after the plan, and another deploy meanwhile, are differences too', async () => {
    const dir = await deployedAndPlanned();
    await writeFile(join(dir, 'dist/extra.zip'), 'PK-extra');
    await refused(dir, /'lambdas\/main\/extra\.zip' is in this deploy but was not planned/);
    expect((await runCli(['deploy'], { env: env(dir), cwd: dir })).code).toBe(0);
    await refused(dir, /the deployment record changed since the plan/);
  });

  it('a file that is not a plan is a configuration error', async () => {
    const dir = await projectWithPackages(['hello.zip']);
    await writeFile(join(dir, 'gestalt-plan.json'), JSON.stringify({ command: 'deploy' }));
    const r = await runCli(['deploy'], { env: planned(dir), cwd: dir });
    expect(r.code, r.output).toBe(2);
    expect(r.output).toMatch(/GESTALT_PLAN: .*is not a plan report/);
  });
});
