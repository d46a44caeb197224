// RecordStore in-process against the S3 stand-in (moto_server, or fauxqs without Python), through the S3
// client the run builds: where the record lives, its exact bytes, what is refused on reading, and the sentence
// for each failure.
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RemoteError } from '../../src/errors.js';
import { recordKey, RecordStore } from '../../src/record/store.js';
import type { DeploymentRecord } from '../../src/record/types.js';
import { assertNoSecrets } from '../support/run-cli.js';
import { startS3, type S3Server } from '../support/s3-server.js';
import { record, recorded, rejection, wiringS3Client, wiringStorage } from './fixtures.js';

const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzWIRINGKEY';
const ENVIRONMENT = 'review/main';
let s3: S3Server;
let client: S3Client;
let bucket: string;

beforeAll(async () => {
  s3 = await startS3();
  client = wiringS3Client(s3.endpoint, s3.region, AWS_SECRET);
});
afterAll(async () => {
  client.destroy();
  await s3.close();
});
beforeEach(async () => {
  bucket = `rec-${randomUUID().slice(0, 12)}`;
  await s3.createBucket(bucket);
});

const storage = wiringStorage;
const store = (name = bucket) => new RecordStore(client, storage(name), { environment: ENVIRONMENT, projectPath: 'acme/lambdas', mode: 'meta' });
const KEY = 'acme/lambdas/deployments/review/main.json';
const ENV_ID = 'e7b3ca8b-5b9a-4a51-8309-3ced4718e41f';
const put = (body: string) => client.send(new PutObjectCommand({ Bucket: bucket, Key: KEY, Body: body }));
const write = (rec: DeploymentRecord) => store().update(ENVIRONMENT, () => rec);

describe('RecordStore: where and what', () => {
  it('keeps one record per environment under <prefix>/deployments/<environment>.json', () => {
    expect(recordKey(storage(bucket), ENVIRONMENT)).toBe(KEY);
    expect(store().uri(ENVIRONMENT)).toBe(`s3://${bucket}/${KEY}`);
  });

  it('an environment never deployed has no record (NoSuchKey), and no ETag', async () => {
    expect(await store().readVersion(ENVIRONMENT)).toEqual({ record: undefined, etag: undefined });
  });

  it('writes pretty JSON with a final newline as application/json, and reads back exactly what it wrote, with its ETag', async () => {
    const rec = record([recorded('a.zip', { id: randomUUID(), endpointIds: [randomUUID()], url: 'https://gw.example.test/dev1/lambdas/main/a.zip' })], { api: 'dev1', environmentId: ENV_ID, org: 'root' });
    expect(await write(rec)).toEqual(rec);
    expect(await s3.listKeys(bucket)).toEqual([KEY]);
    expect((await s3.getObject(bucket, KEY))?.toString('utf8')).toBe(`${JSON.stringify(rec, null, 2)}\n`);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: KEY }));
    expect(head.ContentType).toBe('application/json');
    expect(await store().readVersion(ENVIRONMENT)).toEqual({ record: rec, etag: head.ETag });
  });

  it('an update replaces the record; a change to nothing deletes it, and deleting it again is fine', async () => {
    await write(record([recorded('a.zip')], { environmentId: ENV_ID }));
    const second = record([recorded('b.zip', { state: 'pending' })], { sha: 'f'.repeat(40), environmentId: ENV_ID });
    await store().update(ENVIRONMENT, (current) => (expect(current?.functions.map((f) => f.file)).toEqual(['a.zip']), second));
    expect(await store().read(ENVIRONMENT)).toEqual(second);
    expect(await store().update(ENVIRONMENT, () => undefined)).toBeUndefined();
    expect(await s3.listKeys(bucket)).toEqual([]);
    expect(await store().read(ENVIRONMENT)).toBeUndefined();
    await store().update(ENVIRONMENT, () => undefined);
  });

  it('a schema 1 record (before states) reads as schema 2 with every function deployed', async () => {
    const { state: _state, ...old } = recorded('a.zip', { id: randomUUID() });
    await put(JSON.stringify({ ...record([], { environmentId: ENV_ID }), schema: 1, functions: [old] }));
    expect(await store().read(ENVIRONMENT)).toEqual(record([{ ...old, state: 'deployed' }], { environmentId: ENV_ID }));
  });
});

describe('RecordStore: a record that cannot be trusted is refused, and left as it is', () => {
  const base = () => record([recorded('a.zip')], { environmentId: ENV_ID });
  const untrusted: [string, string, string][] = [
    ['not JSON', '{"schema":2,"environment":', 'it is not JSON (truncated or overwritten)'],
    ['JSON of another shape', '{"hello":1}', 'its schema undefined is not one this version reads (1 or 2)'],
    ['another schema', JSON.stringify({ ...base(), schema: 3 }), 'its schema 3 is not one this version reads (1 or 2)'],
    ['functions not a list', JSON.stringify({ ...base(), functions: {} }), 'it has no functions list'],
    ['for another environment', JSON.stringify({ ...base(), environment: 'production' }), `it is for environment "production", not '${ENVIRONMENT}'`],
    ['of another project', JSON.stringify({ ...base(), project: { ...base().project, path: 'acme/other' } }), "it belongs to project \"acme/other\", not 'acme/lambdas'"],
    ['with an id that is not a UUID', JSON.stringify({ ...base(), functions: [recorded('a.zip', { id: '../../lambdas' })] }), "function 'lambdas/main/a.zip' has an id that is not a UUID"],
  ];
  for (const [what, body, reason] of untrusted) {
    it(`an object ${what}`, async () => {
      await put(body);
      const err = await rejection(store().update(ENVIRONMENT, () => undefined));
      expect(err).toBeInstanceOf(RemoteError);
      expect(err.message).toBe(`The deployment record s3://${bucket}/${KEY} cannot be trusted: ${reason}; nothing was changed. Restore it from the bucket's versions, or remove it and clean up in Gestalt by hand.`);
      expect((await s3.getObject(bucket, KEY))?.toString('utf8')).toBe(body);
    });
  }
});

describe('RecordStore: a bucket that does not exist', () => {
  const missing = () => `missing-${randomUUID().slice(0, 8)}`;
  const noBucket = (call: string, name: string) => `S3 ${call} s3://${name}/${KEY} failed: the bucket does not exist; create it or fix S3_BUCKET_NAME (and AWS_REGION).`;

  it('reading names S3_BUCKET_NAME instead of finding no record (NoSuchBucket is not NoSuchKey)', async () => {
    const name = missing();
    const err = await rejection(store(name).readVersion(ENVIRONMENT));
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe(noBucket('GetObject', name));
    assertNoSecrets([err.message], [AWS_SECRET]);
  });

  it('an update fails on its read, before writing anything', async () => {
    const name = missing();
    let asked = false;
    const err = await rejection(store(name).update(ENVIRONMENT, () => ((asked = true), record([]))));
    expect(err.message).toBe(noBucket('GetObject', name));
    expect(asked).toBe(false);
  });

  it('writing or deleting from a version already read names S3_BUCKET_NAME too', async () => {
    const name = missing();
    const write = await rejection(store(name).update(ENVIRONMENT, () => record([], { environmentId: ENV_ID }), { record: undefined, etag: undefined }));
    const remove = await rejection(store(name).update(ENVIRONMENT, () => undefined, { record: record([], { environmentId: ENV_ID }), etag: '"0"' }));
    expect(write.message).toBe(noBucket('PutObject', name));
    expect(remove.message).toBe(noBucket('DeleteObject', name));
    assertNoSecrets([write.message, remove.message], [AWS_SECRET]);
  });
});
