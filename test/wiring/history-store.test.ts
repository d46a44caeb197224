// HistoryStore.append with a version read ahead, against the S3 stand-in: a read taken while the deploy uploads
// saves the read at the end, and when another job appended in between, the conditional write (412) makes it read
// again and number after that job's entry, so neither is lost.
import type { S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HistoryStore } from '../../src/history/store.js';
import type { HistoryEntry } from '../../src/history/types.js';
import { startS3, type S3Server } from '../support/s3-server.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';
import { wiringS3Client, wiringStorage } from './fixtures.js';

const ENVIRONMENT = 'review/main';
let s3: S3Server;
let proxy: RecordingProxy;
let client: S3Client;

beforeAll(async () => {
  s3 = await startS3();
  proxy = await startRecordingProxy(s3.endpoint);
  client = wiringS3Client(proxy.url, s3.region, 'wiring-secret-key');
});
afterAll(async () => {
  client.destroy();
  await proxy.close();
  await s3.close();
});

const storage = wiringStorage;
const entry = (sha: string): Omit<HistoryEntry, 'number'> => ({ command: 'deploy', at: new Date().toISOString(), sha, ref: 'main', pipelineId: '1', jobUrl: '', functions: [] });
const historyCalls = (from: number) => proxy.requests.slice(from).filter((q) => q.path.endsWith('.history.json')).map((q) => `${q.method} ${q.status}`);

describe('HistoryStore.append with a version read ahead', () => {
  it('writes without reading again when nothing changed, and re-reads and renumbers after another job appended', async () => {
    const bucket = `hist-${randomUUID().slice(0, 12)}`;
    await s3.createBucket(bucket);
    const history = new HistoryStore(client, storage(bucket), 'acme/lambdas', 20);

    let from = proxy.requests.length;
    const first = await history.append(ENVIRONMENT, entry('a'.repeat(40)), history.readAhead(ENVIRONMENT));
    expect(first.number).toBe(1);
    expect(historyCalls(from)).toEqual(['GET 404', 'PUT 200']);

    // Read ahead, then another job appends before this one does.
    from = proxy.requests.length;
    const ahead = history.readAhead(ENVIRONMENT);
    await ahead;
    await history.append(ENVIRONMENT, entry('b'.repeat(40)));
    const mine = await history.append(ENVIRONMENT, entry('c'.repeat(40)), ahead);
    expect(mine.number).toBe(3);
    // The stale read-ahead's write was refused (412) and only then was the history read again.
    expect(historyCalls(from)).toEqual(['GET 200', 'GET 200', 'PUT 200', 'PUT 412', 'GET 200', 'PUT 200']);
    expect((await history.read(ENVIRONMENT)).entries.map((e) => [e.number, e.sha[0]])).toEqual([[3, 'c'], [2, 'b'], [1, 'a']]);
  });
});
