// The behaviour every RequestLog (SQLite, Postgres …) must show; each implementation's test file runs it.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RequestLog, RequestLogEntry } from '../../core/ports/request-log.js';

export interface RequestLogUnderTest {
  store: RequestLog;
  /** Stops timers and closes connections. */
  cleanup(): Promise<void>;
}

const baseTime = 1_700_000_000_000;

function makeEntry(index: number, overrides: Partial<RequestLogEntry> = {}): RequestLogEntry {
  return {
    id: `log_${String(index).padStart(6, '0')}`,
    requestId: `req_${String(index).padStart(6, '0')}`,
    keyId: 'key_a',
    endpoint: '/v1/images/generations',
    model: 'gpt-image-1',
    provider: 'openai',
    channel: 'openai-main',
    status: 200,
    imagesRequested: 2,
    imagesDelivered: 2,
    size: '1024x1024',
    latencyMs: 1234.5,
    errorCode: null,
    createdAt: baseTime + index * 1000,
    clientIp: '203.0.113.9',
    details: null,
    ...overrides,
  };
}

const ids = (found: RequestLogEntry[]) => found.map((entry) => entry.id);

export function describeRequestLogConformance(name: string, create: () => Promise<RequestLogUnderTest>): void {
  describe(`RequestLog conformance: ${name}`, () => {
    let subject: RequestLogUnderTest;
    let log: RequestLog;

    beforeEach(async () => {
      subject = await create();
      log = subject.store;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    it('returns a recorded entry with every field intact after flush', async () => {
      const success = makeEntry(1);
      const failure = makeEntry(2, {
        keyId: null,
        model: null,
        provider: null,
        channel: null,
        status: 429,
        imagesDelivered: 0,
        size: null,
        errorCode: 'rate_limit_exceeded',
        latencyMs: 3,
        clientIp: null,
      });
      log.record(success);
      log.record(failure);
      await log.flush();
      expect(await log.query({})).toStrictEqual([failure, success]);
    });

    it('stores only the entry fields, never extra properties riding on the object', async () => {
      const entry = makeEntry(1);
      log.record({ ...entry, b64_json: 'aGVsbG8=', apiKey: 'sk-secret' } as RequestLogEntry);
      await log.flush();
      expect(await log.query({})).toStrictEqual([entry]);
    });

    it('answers an empty list when nothing was recorded, and flush with nothing pending resolves', async () => {
      await expect(log.flush()).resolves.toBeUndefined();
      expect(await log.query({})).toStrictEqual([]);
    });

    it('filters by key, model and time range, newest first, up to the limit', async () => {
      const entries = [
        makeEntry(0, { keyId: 'key_a', model: 'gpt-image-1' }),
        makeEntry(1, { keyId: 'key_b', model: 'gpt-image-1' }),
        makeEntry(2, { keyId: 'key_a', model: 'dall-e-3' }),
        makeEntry(3, { keyId: 'key_a', model: 'gpt-image-1' }),
        makeEntry(4, { keyId: 'key_b', model: 'dall-e-3' }),
        makeEntry(5, { keyId: 'key_a', model: 'gpt-image-1' }),
      ];
      for (const entry of entries) log.record(entry);
      await log.flush();

      expect(ids(await log.query({}))).toStrictEqual(['log_000005', 'log_000004', 'log_000003', 'log_000002', 'log_000001', 'log_000000']);
      expect(ids(await log.query({ keyId: 'key_a' }))).toStrictEqual(['log_000005', 'log_000003', 'log_000002', 'log_000000']);
      expect(ids(await log.query({ model: 'dall-e-3' }))).toStrictEqual(['log_000004', 'log_000002']);
      expect(ids(await log.query({ keyId: 'key_a', model: 'gpt-image-1' }))).toStrictEqual(['log_000005', 'log_000003', 'log_000000']);
      // `from` is inclusive and `to` exclusive, so consecutive windows neither overlap nor leave gaps.
      expect(ids(await log.query({ from: baseTime + 2000, to: baseTime + 4000 }))).toStrictEqual(['log_000003', 'log_000002']);
      expect(ids(await log.query({ from: baseTime + 4000 }))).toStrictEqual(['log_000005', 'log_000004']);
      expect(ids(await log.query({ to: baseTime + 1000 }))).toStrictEqual(['log_000000']);
      expect(ids(await log.query({ limit: 2 }))).toStrictEqual(['log_000005', 'log_000004']);
      expect(ids(await log.query({ keyId: 'key_b', limit: 1 }))).toStrictEqual(['log_000004']);
      expect(await log.query({ keyId: 'key_nobody' })).toStrictEqual([]);
    });

    it('keeps a request\'s details (prompt, parameters, warnings, image keys) and finds one entry by id', async () => {
      const details = { prompt: 'a red fox', parameters: { size: '256x256', n: 2 }, warnings: ['quality ignored'], imageKeys: ['images/a.png', 'images/b.png'], generationMs: 12 };
      log.record(makeEntry(1, { details }));
      log.record(makeEntry(2));
      await log.flush();
      expect(await log.get('req_000001')).toStrictEqual(makeEntry(1, { details }));
      expect(await log.get('req_000002')).toStrictEqual(makeEntry(2));
      expect(await log.get('req_nobody')).toBeUndefined();
      expect(await log.get('log_000002')).toStrictEqual(makeEntry(2));
    });

    it('keeps every request that repeats a request id, and finds each key its own', async () => {
      // Callers choose X-Request-Id: two tenants may send the same one, and a retry repeats its own.
      log.record(makeEntry(1, { requestId: 'shared-id', keyId: 'key_a' }));
      log.record(makeEntry(2, { requestId: 'shared-id', keyId: 'key_b' }));
      log.record(makeEntry(3, { requestId: 'shared-id', keyId: 'key_a', status: 409, errorCode: 'conflict' }));
      await log.flush();
      expect(ids(await log.query({ requestId: 'shared-id' }))).toStrictEqual(['log_000003', 'log_000002', 'log_000001']);
      expect((await log.get('shared-id', 'key_b'))?.id).toBe('log_000002');
      expect((await log.get('shared-id', 'key_a'))?.id).toBe('log_000003');
      expect((await log.get('shared-id'))?.id).toBe('log_000003');
      expect(await log.get('log_000002', 'key_a')).toBeUndefined();
      expect(await log.get('shared-id', 'key_c')).toBeUndefined();
    });

    it('filters by channel and by outcome (succeeded: status below 400, failed: 400 and above)', async () => {
      log.record(makeEntry(1, { channel: 'one', status: 200 }));
      log.record(makeEntry(2, { channel: 'two', status: 502, errorCode: 'upstream_error' }));
      log.record(makeEntry(3, { channel: 'one', status: 429, errorCode: 'rate_limit_exceeded' }));
      await log.flush();
      expect(ids(await log.query({ channel: 'one' }))).toStrictEqual(['log_000003', 'log_000001']);
      expect(ids(await log.query({ outcome: 'failed' }))).toStrictEqual(['log_000003', 'log_000002']);
      expect(ids(await log.query({ outcome: 'succeeded' }))).toStrictEqual(['log_000001']);
      expect(ids(await log.query({ channel: 'one', outcome: 'failed' }))).toStrictEqual(['log_000003']);
    });

    it('writes every entry of a burst larger than one batch', async () => {
      const count = 1234;
      for (let index = 0; index < count; index += 1) log.record(makeEntry(index, { keyId: 'key_burst' }));
      await log.flush();
      const found = await log.query({ keyId: 'key_burst', limit: 5000 });
      expect(found).toHaveLength(count);
      expect(new Set(found.map((entry) => entry.id)).size).toBe(count);
      expect(found[0]?.id).toBe('log_001233');
    });

    it('keeps entries recorded while an earlier flush is still writing', async () => {
      log.record(makeEntry(1));
      const firstFlush = log.flush();
      log.record(makeEntry(2));
      await Promise.all([firstFlush, log.flush()]);
      expect((await log.query({})).map((entry) => entry.id)).toStrictEqual(['log_000002', 'log_000001']);
    });

    it('deletes entries older than a cutoff, and only those (retention)', async () => {
      for (let index = 1; index <= 5; index += 1) log.record(makeEntry(index));
      await log.flush();
      expect(await log.deleteOlderThan(baseTime + 3 * 1000)).toBe(2);
      expect((await log.query({})).map((entry) => entry.id).sort()).toEqual(['log_000003', 'log_000004', 'log_000005']);
      expect(await log.deleteOlderThan(baseTime)).toBe(0);
    });
  });
}
