import { describe, expect, it } from 'vitest';
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { environmentMatcher } from '../../src/config/environment-glob.js';
import { ReferenceSet, packageSha } from '../../src/history/references.js';
import { unreferencedOld } from '../../src/run/prune.js';
import { deleteObjects, listObjects } from '../../src/storage/listing.js';

const sha = (c: string) => c.repeat(64);
const key = (c: string, file = 'a.zip') => `acme/lambdas/packages/${sha(c)}/${file}`;

describe('GESTALT_PRUNE_ENVIRONMENTS matching', () => {
  it('* spans any characters including /, ? one character, the rest is literal and anchored', () => {
    const m = environmentMatcher(['review/*', 'qa-?']);
    expect(m('review/main')).toBe(true);
    expect(m('review/feature/login')).toBe(true);
    expect(m('review/')).toBe(true);
    expect(m('production')).toBe(false);
    expect(m('old-review/main')).toBe(false);
    expect(m('qa-1')).toBe(true);
    expect(m('qa-12')).toBe(false);
  });
  it('regex characters in a pattern are literal; no pattern matches nothing', () => {
    expect(environmentMatcher(['a.b'])('axb')).toBe(false);
    expect(environmentMatcher(['a.b'])('a.b')).toBe(true);
    expect(environmentMatcher(['(x)+'])('(x)+')).toBe(true);
    expect(environmentMatcher([])('review/main')).toBe(false);
  });
});

describe('the reference set', () => {
  const refs = new ReferenceSet();
  refs.add({ functions: [{ packageKey: key('1') }, { packageKey: 42 }, null] });
  refs.add({ entries: [{ functions: [{ packageKey: key('2'), sha256: sha('2') }] }, { functions: [{ sha256: sha('3') }] }, 'junk'] });
  refs.add('not an object');
  it('holds keys named by records and history entries, and any file of a named sha256', () => {
    expect(refs.holds(key('1'))).toBe(true);
    expect(refs.holds(key('2'))).toBe(true);
    expect(refs.holds(key('1', 'renamed.zip'))).toBe(true);
    expect(refs.holds(key('3'))).toBe(true);
    expect(refs.holds(key('4'))).toBe(false);
  });
  it('packageSha reads only the content-addressed layout', () => {
    expect(packageSha(key('e'))).toBe(sha('e'));
    expect(packageSha('acme/lambdas/packages/notes.txt')).toBeUndefined();
    expect(packageSha('acme/lambdas/deployments/review/a.json')).toBeUndefined();
  });
  it('deletes only unreferenced, old enough, content-addressed package objects under the prefix', () => {
    const now = Date.parse('2030-01-31T00:00:00Z');
    const old = new Date('2030-01-01T00:00:00Z');
    const young = new Date('2030-01-30T00:00:00Z');
    const objects = [
      { key: key('1'), lastModified: old },
      { key: key('4'), lastModified: old },
      { key: key('5'), lastModified: young },
      { key: key('6'), lastModified: undefined },
      { key: 'acme/lambdas/packages/notes.txt', lastModified: old },
      { key: `other/packages/${sha('7')}/a.zip`, lastModified: old },
    ];
    expect(unreferencedOld(objects, 'acme/lambdas/packages/', refs, 7, now)).toEqual([key('4')]);
    expect(unreferencedOld(objects, 'acme/lambdas/packages/', refs, 0, now)).toEqual([key('4'), key('5')]);
  });
});

describe('S3 listing and batched deletes', () => {
  /** A fake S3 that pages `total` keys, `page` at a time, and records what it was sent. */
  function fakeS3(total: number, page = 1000) {
    const sent: unknown[] = [];
    return {
      sent,
      send: async (cmd: unknown) => {
        sent.push(cmd);
        if (cmd instanceof ListObjectsV2Command) {
          const start = Number(cmd.input.ContinuationToken ?? 0);
          const n = Math.min(page, cmd.input.MaxKeys ?? 1000, total - start);
          const end = start + n;
          return { Contents: Array.from({ length: n }, (_, i) => ({ Key: `k${start + i}`, LastModified: new Date(0) })), IsTruncated: end < total, NextContinuationToken: String(end) };
        }
        if (cmd instanceof DeleteObjectsCommand) {
          const objects = cmd.input.Delete?.Objects ?? [];
          return { Errors: objects.filter((o) => o.Key === 'k3').map((o) => ({ Key: o.Key, Code: 'AccessDenied', Message: 'no' })) };
        }
        throw new Error('unexpected command');
      },
    };
  }
  it('follows continuation tokens to the end', async () => {
    const s3 = fakeS3(2500);
    const listing = await listObjects(s3 as never, 'b', 'p/', 10_000);
    expect(listing.objects).toHaveLength(2500);
    expect(listing.capped).toBe(false);
    expect(s3.sent).toHaveLength(3);
  });
  it('stops at the cap and says so', async () => {
    const s3 = fakeS3(5000);
    const listing = await listObjects(s3 as never, 'b', 'p/', 1500);
    expect(listing.objects).toHaveLength(1500);
    expect(listing.capped).toBe(true);
    expect(s3.sent).toHaveLength(2);
    expect((await listObjects(fakeS3(1500) as never, 'b', 'p/', 1500)).capped).toBe(false);
  });
  it('deletes in calls of at most 1,000 keys and reports the keys S3 refused', async () => {
    const s3 = fakeS3(0);
    const keys = Array.from({ length: 2001 }, (_, i) => `k${i}`);
    const outcome = await deleteObjects(s3 as never, 'b', keys);
    expect(s3.sent.map((c) => (c as DeleteObjectsCommand).input.Delete?.Objects?.length)).toEqual([1000, 1000, 1]);
    expect(outcome.failed).toEqual([{ key: 'k3', message: 'AccessDenied: no' }]);
    expect(outcome.deleted).toHaveLength(2000);
  });
});
