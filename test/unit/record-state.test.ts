// The record is untrusted input, and a run's journal must never drop what another job or an earlier run left.
import { describe, expect, it } from 'vitest';
import { notOwned, ownershipMark } from '../../src/gestalt/meta/ownership.js';
import { RunJournal, type RecordHeader } from '../../src/record/journal.js';
import { InvalidRecord, parseRecord } from '../../src/record/schema.js';
import type { RecordStore } from '../../src/record/store.js';
import type { DeploymentRecord, RecordedFunction } from '../../src/record/types.js';

const ENV_ID = 'bc9b41a6-9859-4da1-a064-7846710d510d';
const ID_A = '11111111-1111-4111-8111-111111111111';
const ID_B = '22222222-2222-4222-8222-222222222222';
const ID_C = '33333333-3333-4333-8333-333333333333';
const expectation = { environment: 'review/feature', projectPath: 'acme/lambdas', mode: 'meta' as const };

function record(functions: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ schema: 2, environment: 'review/feature', mode: 'meta', project: { name: 'lambdas', path: 'acme/lambdas', id: '1' }, environmentId: ENV_ID, functions, ...extra });
}

const fn = (name: string, id: string | undefined, state: RecordedFunction['state'] = 'deployed'): RecordedFunction => ({ name, file: name.split('/').pop() ?? name, runtime: 'nodejs', handler: 'h', packageKey: '', sha256: '', id, deployedAt: '', state });

describe('parseRecord', () => {
  it('reads a well-formed record and a schema 1 record as deployed', () => {
    expect(parseRecord(record([fn('lambdas/feature/a.zip', ID_A)]), expectation).functions[0]?.state).toBe('deployed');
    const v1 = JSON.parse(record([{ name: 'lambdas/feature/a.zip', file: 'a.zip', id: ID_A }]));
    v1.schema = 1;
    expect(parseRecord(JSON.stringify(v1), expectation).functions[0]?.state).toBe('deployed');
  });

  const tampered: [string, string, RegExp][] = [
    ['truncated', record([]).slice(0, 40), /not JSON/],
    ['another environment', record([], { environment: 'production' }), /for environment "production"/],
    ['another project', record([], { project: { path: 'other/prod' } }), /belongs to project "other\/prod"/],
    ['a path as id', record([{ name: 'x', file: 'x.zip', id: '../../../apiendpoints/abc' }]), /not a UUID/],
    ['the root as id', record([{ name: 'x', file: 'x.zip', id: '../../..' }]), /not a UUID/],
    ['a null entry', record([null]), /function 1 is not an object/],
    ['an entry without a name', record([{ file: 'x.zip', id: ID_A }]), /function 1 has no well-formed name/],
    ['endpoint ids that are paths', record([{ name: 'x', file: 'x.zip', id: ID_A, endpointIds: ['../..'] }]), /endpoint ids that are not UUIDs/],
    ['an unknown state', record([{ name: 'x', file: 'x.zip', id: ID_A, state: 'gone' }]), /unknown state/],
    ['a file with a slash', record([{ name: 'x', file: '../x.zip', id: ID_A }]), /no well-formed file name/],
    ['another mode', record([], { mode: 'gateway' }), /written in gateway mode/],
    ['a bad environment id', record([], { environmentId: '../..' }), /environmentId is not a UUID/],
  ];
  for (const [what, text, reason] of tampered) {
    it(`refuses ${what}`, () => {
      expect(() => parseRecord(text, expectation)).toThrow(InvalidRecord);
      expect(() => parseRecord(text, expectation)).toThrow(reason);
    });
  }

  it('in gateway mode, refuses names outside the project', () => {
    const text = JSON.stringify({ schema: 2, environment: 'review/feature', mode: 'gateway', project: { name: 'lambdas', path: 'acme/lambdas' }, functions: [{ name: 'payments/main/x.zip', file: 'x.zip' }] });
    expect(() => parseRecord(text, { ...expectation, mode: 'gateway' })).toThrow(/does not belong to project 'lambdas'/);
  });
});

describe('ownership marks', () => {
  const owner = { projectPath: 'acme/lambdas', environment: 'review/feature' };
  const res = (variables?: unknown) => ({ id: ID_A, name: 'n', variables });
  it('a resource is ours only with both marks matching', () => {
    expect(notOwned(res(ownershipMark(owner)), owner)).toBeUndefined();
    expect(notOwned(res(), owner)).toMatch(/no gestalt-deploy ownership mark/);
    expect(notOwned(res(ownershipMark({ ...owner, environment: 'review/feature-login' })), owner)).toMatch(/environment "review\/feature-login"/);
    expect(notOwned(res(ownershipMark({ ...owner, projectPath: 'other/prod' })), owner)).toMatch(/project "other\/prod"/);
  });
});

/** A record store double that holds one record in memory and lets a test change it between writes. */
function memoryStore(initial?: DeploymentRecord) {
  let current = initial;
  const store = {
    // Applies every change to the record as it is now, as the real store does after a 412 and a re-read.
    async write(_env: string, change: (c: DeploymentRecord | undefined) => DeploymentRecord | undefined) {
      current = change(current);
      return { record: current, etag: '"x"' };
    },
    async readVersion() {
      return { record: current, etag: '"x"' };
    },
  } as unknown as RecordStore;
  return { store, get: () => current, set: (r: DeploymentRecord | undefined) => void (current = r) };
}

const header: RecordHeader = { environment: 'review/feature', mode: 'meta', project: { name: 'lambdas', path: 'acme/lambdas', id: '1' }, ref: 'feature', sha: 'abc', pipelineId: '1', jobUrl: '', updatedAt: '', environmentId: ENV_ID };
const base = (functions: RecordedFunction[]): DeploymentRecord => ({ schema: 2, ...header, functions });

describe('RunJournal', () => {
  it('names pending functions before any write, then settles them', async () => {
    const mem = memoryStore();
    const j = new RunJournal(mem.store, header, { record: undefined, etag: undefined }, () => false);
    await j.begin([fn('a', ID_A, 'pending')]);
    expect(mem.get()?.functions.map((f) => [f.name, f.state])).toEqual([['a', 'pending']]);
    j.settle(fn('a', ID_A, 'deployed'));
    await j.end();
    expect(mem.get()?.functions.map((f) => [f.name, f.state])).toEqual([['a', 'deployed']]);
  });

  it('ends without another write when the last settle already wrote every entry; one settled during a write is written right after it', async () => {
    const mem = memoryStore();
    let writes = 0;
    const store = mem.store as unknown as { write: (e: string, c: (r: DeploymentRecord | undefined) => DeploymentRecord | undefined) => Promise<unknown> };
    const write = store.write.bind(store);
    store.write = async (e, c) => (writes++, write(e, c));
    const j = new RunJournal(mem.store, header, { record: undefined, etag: undefined }, () => false);
    await j.begin([fn('a', ID_A, 'pending'), fn('b', ID_B, 'pending')]);
    j.settle(fn('a', ID_A, 'deployed'));
    j.settle(fn('b', ID_B, 'deployed')); // while a's write is in flight: written right after it
    await j.end();
    expect(writes).toBe(3);
    expect(mem.get()?.functions.map((f) => [f.name, f.state])).toEqual([['a', 'deployed'], ['b', 'deployed']]);
    // A second run: its settle writes the failed state itself, and end adds no write.
    const k = new RunJournal(mem.store, header, { record: mem.get(), etag: '"x"' }, () => true);
    await k.begin([fn('a', ID_A, 'pending')]);
    const before = writes;
    k.settle(fn('a', ID_A, 'failed'));
    await k.end();
    // The settle's own write; end finds it holds everything.
    expect(writes - before).toBe(1);
    expect(mem.get()?.functions.map((f) => [f.name, f.state])).toEqual([['a', 'failed'], ['b', 'deployed']]);
  });

  it('keeps one write in flight from begin on: a forget during the first write waits for it, then is written', async () => {
    const mem = memoryStore();
    const store = mem.store as unknown as { write: (e: string, c: (r: DeploymentRecord | undefined) => DeploymentRecord | undefined) => Promise<unknown> };
    const write = store.write.bind(store);
    let inFlight = 0;
    let most = 0;
    let release!: () => void;
    const firstHeld = new Promise<void>((r) => (release = r));
    let calls = 0;
    store.write = async (e, c) => {
      most = Math.max(most, ++inFlight);
      try {
        if (++calls === 1) await firstHeld;
        return await write(e, c);
      } finally {
        inFlight--;
      }
    };
    const j = new RunJournal(mem.store, header, { record: undefined, etag: undefined }, () => false);
    const begun = j.begin([fn('a', ID_A, 'pending'), fn('b', ID_B, 'pending')]);
    j.forget(fn('b', ID_B, 'pending'));
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(1);
    release();
    await begun;
    await j.end();
    expect(most).toBe(1);
    expect(calls).toBe(2);
    expect(mem.get()?.functions.map((f) => [f.name, f.state])).toEqual([['a', 'pending']]);
  });

  it("keeps another job's entries, including a duplicate of a name this run deploys", async () => {
    const mem = memoryStore(base([fn('old', ID_C)]));
    const j = new RunJournal(mem.store, header, { record: mem.get(), etag: '"1"' }, () => true);
    await j.begin([fn('a', ID_A, 'pending')]);
    // Another job writes its own lambda of the same name meanwhile.
    mem.set(base([...(mem.get()?.functions ?? []), fn('a', ID_B, 'pending')]));
    j.settle(fn('a', ID_A, 'deployed'));
    await j.end();
    expect(mem.get()?.functions.map((f) => f.id).sort()).toEqual([ID_A, ID_B, ID_C]);
  });

  it('drops an entry this run saw at the start only when its resource is known to be gone', async () => {
    const start = base([fn('a', ID_C), fn('b', ID_B)]);
    const mem = memoryStore(start);
    const j = new RunJournal(mem.store, header, { record: start, etag: '"1"' }, (id) => id === ID_B);
    await j.begin([fn('a', ID_A, 'pending'), fn('b', ID_A.replace('1111-4', '1112-4'), 'pending')]);
    await j.end();
    const ids = mem.get()?.functions.map((f) => f.id) ?? [];
    expect(ids).not.toContain(ID_C); // gone: replaced by this run's lambda
    expect(ids).toContain(ID_B); // may still exist: kept
  });

  it("keeps another run's entry that was pending at the start, though this run's lookups did not see its lambda", async () => {
    // Run X wrote its claim (pending) before this run read the record; X's create landed after this run looked.
    const start = base([fn('a', ID_C, 'pending')]);
    const mem = memoryStore(start);
    const j = new RunJournal(mem.store, header, { record: start, etag: '"1"' }, () => false);
    await j.begin([fn('a', ID_A, 'pending')]);
    mem.set(base([...(mem.get()?.functions ?? []).filter((f) => f.id !== ID_C), fn('a', ID_C, 'deployed')]));
    j.settle(fn('a', ID_A, 'deployed'));
    await j.end();
    expect(mem.get()?.functions.map((f) => [f.id, f.state]).sort()).toEqual([[ID_A, 'deployed'], [ID_C, 'deployed']].sort());
  });

  it('forgets a pending function that never reached Gestalt, and leaves no record when nothing is left', async () => {
    const mem = memoryStore();
    const j = new RunJournal(mem.store, header, { record: undefined, etag: undefined }, () => false);
    await j.begin([fn('a', ID_A, 'pending')]);
    j.forget(fn('a', ID_A, 'pending'));
    await j.end();
    expect(mem.get()).toBeUndefined();
  });

  it('reports a failed record write at the end', async () => {
    const failing = { async write() { throw new Error('S3 PutObject failed: access denied'); } } as unknown as RecordStore;
    const j = new RunJournal(failing, header, { record: undefined, etag: undefined }, () => false);
    j.settle(fn('a', ID_A, 'deployed'));
    await expect(j.end()).rejects.toThrow(/access denied/);
  });
});

describe('RunJournal.end reads back', () => {
  it('re-applies its entries when another writer replaced them (a store without atomic conditional writes)', async () => {
    const mem = memoryStore();
    const j = new RunJournal(mem.store, header, { record: undefined, etag: undefined }, () => true);
    let writes = 0;
    const store = mem.store as unknown as { write: (e: string, c: (r: DeploymentRecord | undefined) => DeploymentRecord | undefined) => Promise<{ record: DeploymentRecord | undefined }> };
    const write = store.write.bind(store);
    store.write = async (e, c) => {
      const out = await write(e, c);
      // The settle's write (the run's last) is clobbered by a stale writer that knew nothing of this run.
      if (++writes === 2) mem.set(base([fn('b', ID_B)]));
      return out;
    };
    await j.begin([fn('a', ID_A, 'pending')]);
    j.settle(fn('a', ID_A, 'deployed'));
    await j.end();
    expect(mem.get()?.functions.map((f) => [f.id, f.state]).sort()).toEqual([[ID_A, 'deployed'], [ID_B, 'deployed']]);
  });
});
