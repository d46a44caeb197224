// The timeout policy's arithmetic and the capped body reader, without a network: what each try may take, how
// endpoints are named in messages, and that a body over the cap is cut off rather than read whole.
import { describe, expect, it } from 'vitest';
import { CONNECT_TIMEOUT_MS, connectTimeoutMs, DeadlineExceeded, deadlineMs, endpointOf, MAX_BODY_BYTES, readCapped, ResponseTooLarge } from '../../src/net/http.js';

const MIB = 1024 * 1024;

function stream(chunks: Uint8Array[]): { body: ReadableStream<Uint8Array>; cancelled: () => boolean; pulled: () => number } {
  let i = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++] as Uint8Array);
      else controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  return { body, cancelled: () => cancelled, pulled: () => i };
}

describe('deadlineMs and connectTimeoutMs', () => {
  it('gives each try GESTALT_HTTP_TIMEOUT, plus a second per full MiB it sends', () => {
    expect(deadlineMs(30_000)).toBe(30_000);
    expect(deadlineMs(30_000, MIB - 1)).toBe(30_000);
    expect(deadlineMs(30_000, 8 * MIB)).toBe(38_000);
  });

  it('caps connecting at 10 s, or at the timeout when that is shorter', () => {
    expect(connectTimeoutMs(30_000)).toBe(CONNECT_TIMEOUT_MS);
    expect(connectTimeoutMs(2_000)).toBe(2_000);
  });
});

describe('endpointOf', () => {
  it('names scheme, host, port and path, never userinfo or the query', () => {
    expect(endpointOf('https://user:pw@meta.example.com:8443/root/envs?expand=true&X-Amz-Signature=abc')).toBe('https://meta.example.com:8443/root/envs');
    expect(endpointOf('not a url')).toBe('(unparsable URL)');
  });
});

describe('DeadlineExceeded and ResponseTooLarge', () => {
  it('say which endpoint and which limit, under the names retry rules know', () => {
    const late = new DeadlineExceeded('http://127.0.0.1:9/x', 2500, 'answer', 200);
    expect(late.message).toBe('no complete answer from http://127.0.0.1:9/x within 2.5 s (GESTALT_HTTP_TIMEOUT)');
    expect(late.name).toBe('TimeoutError');
    expect(late.$metadata).toEqual({ httpStatusCode: 200 });
    expect(new DeadlineExceeded('http://h/', 10_000, 'connect').message).toBe('could not connect to http://h/ within 10 s (GESTALT_HTTP_TIMEOUT caps connecting at 10 s)');
    const big = new ResponseTooLarge('http://h/k', 500);
    expect(big.message).toBe('the answer from http://h/k (HTTP 500) is larger than 16 MiB, more than gestalt-deploy reads from any service; check that the URL points at the right service.');
    expect(big.name).toBe('ResponseTooLarge');
  });
});

describe('readCapped', () => {
  it('reads a body whole and decodes UTF-8 split across chunks', async () => {
    const bytes = Buffer.from('{"message":"grüße"}');
    const { body } = stream([bytes.subarray(0, 15), bytes.subarray(15)]);
    expect(await readCapped(body, MAX_BODY_BYTES, () => new Error('too large'))).toBe('{"message":"grüße"}');
    expect(await readCapped(null, 10, () => new Error('too large'))).toBe('');
  });

  it('stops at the cap: throws the caller\'s error and cancels the rest instead of reading it', async () => {
    const chunk = new Uint8Array(1024);
    const s = stream(Array.from({ length: 100 }, () => chunk));
    await expect(readCapped(s.body, 4 * 1024, () => new ResponseTooLarge('http://h/'))).rejects.toBeInstanceOf(ResponseTooLarge);
    expect(s.cancelled()).toBe(true);
    expect(s.pulled()).toBeLessThan(10);
  });

  it('accepts a body of exactly the cap', async () => {
    const { body } = stream([new Uint8Array(10)]);
    expect(await readCapped(body, 10, () => new Error('too large'))).toHaveLength(10);
  });
});
