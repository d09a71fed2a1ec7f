// The behaviour every BlobStore (local disk, S3 …) must show; each implementation's test file runs it.

import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../core/ports/blob-store.js';

export interface BlobStoreUnderTest {
  store: BlobStore;
  /** Removes whatever the store wrote (temporary folder, bucket prefix). */
  cleanup(): Promise<void>;
}

/** Generous bound for comparing a store's timestamps with the test's clock (file systems and servers round). */
const clockSlackMs = 60_000;

/** Every store's etag, by the port's definition: the sha256 of the bytes, in hex. */
const sha256Hex = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export function describeBlobStoreConformance(name: string, create: () => Promise<BlobStoreUnderTest>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let subject: BlobStoreUnderTest;
    let store: BlobStore;

    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    it('returns the identical bytes, content type, size and etag that were put', async () => {
      const data = Buffer.from(Array.from({ length: 70_000 }, (_, index) => (index * 31) % 256));
      const before = Date.now();
      await store.put('images/2026/11/21/abc123.png', data, 'image/png');
      const after = Date.now();

      const blob = await store.get('images/2026/11/21/abc123.png');
      expect(blob).toBeDefined();
      expect(blob?.data.equals(data)).toBe(true);
      expect(blob?.contentType).toBe('image/png');
      expect(blob?.size).toBe(data.length);
      expect(blob?.etag).toBe(sha256Hex(data));
      expect(blob?.createdAt).toBeGreaterThan(before - clockSlackMs);
      expect(blob?.createdAt).toBeLessThan(after + clockSlackMs);
    });

    it('gives the same etag to the same bytes and a different one to different bytes', async () => {
      await store.put('etag/one.png', Buffer.from('same bytes'), 'image/png');
      await store.put('etag/two.png', Buffer.from('same bytes'), 'image/png');
      await store.put('etag/three.png', Buffer.from('other bytes'), 'image/png');
      const [first, second, third] = await Promise.all(['etag/one.png', 'etag/two.png', 'etag/three.png'].map((key) => store.get(key)));
      expect(second?.etag).toBe(first?.etag);
      expect(third?.etag).not.toBe(first?.etag);
    });

    it('keeps the content type given, whatever the key looks like', async () => {
      await store.put('misc/payload.bin', Buffer.from('RIFF....WEBP'), 'image/webp');
      await store.put('misc/photo.jpeg', Buffer.from([0xff, 0xd8, 0xff]), 'image/jpeg');
      await store.put('misc/no-extension', Buffer.from('{}'), 'application/json');
      expect((await store.get('misc/payload.bin'))?.contentType).toBe('image/webp');
      expect((await store.get('misc/photo.jpeg'))?.contentType).toBe('image/jpeg');
      expect((await store.get('misc/no-extension'))?.contentType).toBe('application/json');
    });

    it('stores an empty object', async () => {
      await store.put('empty/zero.png', Buffer.alloc(0), 'image/png');
      const blob = await store.get('empty/zero.png');
      expect(blob?.size).toBe(0);
      expect(blob?.data.length).toBe(0);
    });

    it('answers undefined for a key that was never written', async () => {
      expect(await store.get('images/never/written.png')).toBeUndefined();
    });

    it('reads a byte range with the size, type and etag of the whole object', async () => {
      const data = Buffer.from(Array.from({ length: 10_000 }, (_, index) => (index * 7) % 256));
      await store.put('ranges/one.png', data, 'image/png');
      const etag = sha256Hex(data);
      const cases: Array<[Parameters<BlobStore['getRange']>[1], number, number]> = [
        [{ start: 0, end: 99 }, 0, 99],
        [{ start: 5000, end: 5009 }, 5000, 5009],
        [{ start: 9990 }, 9990, 9999],
        [{ suffixLength: 16 }, 9984, 9999],
        [{ suffixLength: 50_000 }, 0, 9999],
        [{ start: 9000, end: 123_456 }, 9000, 9999],
      ];
      for (const [range, start, end] of cases) {
        const part = await store.getRange('ranges/one.png', range);
        expect(part && 'data' in part, JSON.stringify(range)).toBe(true);
        if (!part || !('data' in part)) continue;
        expect([part.start, part.end, part.size]).toEqual([start, end, data.length]);
        expect(part.data.equals(data.subarray(start, end + 1))).toBe(true);
        expect(part.etag).toBe(etag);
        expect(part.contentType).toBe('image/png');
      }
    });

    it('says a range past the end is unsatisfiable, and a missing key is undefined', async () => {
      await store.put('ranges/two.png', Buffer.from('0123456789'), 'image/png');
      expect(await store.getRange('ranges/two.png', { start: 10 })).toEqual({ unsatisfiable: true, size: 10 });
      expect(await store.getRange('ranges/two.png', { suffixLength: 0 })).toEqual({ unsatisfiable: true, size: 10 });
      expect(await store.getRange('ranges/never.png', { start: 0 })).toBeUndefined();
    });

    it('replaces an object put again under the same key', async () => {
      await store.put('replace/me.png', Buffer.from('first version'), 'image/png');
      await store.put('replace/me.png', Buffer.from('second'), 'image/png');
      const blob = await store.get('replace/me.png');
      expect(blob?.data.toString()).toBe('second');
      expect(blob?.etag).toBe(sha256Hex(Buffer.from('second')));
    });

    it('deletes an object, and deleting a missing one is not an error', async () => {
      await store.put('delete/me.png', Buffer.from('bytes'), 'image/png');
      await store.delete('delete/me.png');
      expect(await store.get('delete/me.png')).toBeUndefined();
      await expect(store.delete('delete/me.png')).resolves.toBeUndefined();
      await expect(store.delete('delete/never-existed.png')).resolves.toBeUndefined();
    });

    it('deleteOlderThan removes objects created before the cutoff and counts them', async () => {
      await store.put('old/a.png', Buffer.from('a'), 'image/png');
      await store.put('old/nested/deeper/b.png', Buffer.from('b'), 'image/png');
      await store.put('old/c.bin', Buffer.from('c'), 'image/webp');

      expect(await store.deleteOlderThan(Date.now() - clockSlackMs)).toBe(0);
      expect(await store.get('old/a.png')).toBeDefined();

      expect(await store.deleteOlderThan(Date.now() + clockSlackMs)).toBe(3);
      expect(await store.get('old/a.png')).toBeUndefined();
      expect(await store.get('old/nested/deeper/b.png')).toBeUndefined();
      expect(await store.get('old/c.bin')).toBeUndefined();
      expect(await store.deleteOlderThan(Date.now() + clockSlackMs)).toBe(0);
    });

    it('never shows a reader part of an object while the same key is written concurrently', async () => {
      const key = 'race/same-key.png';
      const versions = Array.from({ length: 12 }, (_, index) => Buffer.alloc(256 * 1024 + index * 4096, index + 1));
      const seen: (Buffer | undefined)[] = [];
      const reads = (async () => {
        for (let round = 0; round < 40; round += 1) seen.push((await store.get(key))?.data);
      })();
      const writes = versions.map((version) => store.put(key, version, 'image/png'));
      await Promise.all([reads, ...writes]);
      seen.push((await store.get(key))?.data);

      for (const data of seen) {
        if (data === undefined) continue;
        expect(versions.some((version) => version.equals(data))).toBe(true);
      }
      expect(seen.at(-1)).toBeDefined();
      const final = await store.get(key);
      expect(final).toBeDefined();
      if (final !== undefined) {
        const match = versions.find((version) => version.equals(final.data));
        expect(match).toBeDefined();
        expect(final.size).toBe(match?.length);
      }
    });

    it('refuses keys that could escape the store or are not plain paths', async () => {
      for (const key of ['../escape.png', '/absolute.png', 'images/../../escape.png', 'with space.png', 'images//double.png', '', 'trailing/']) {
        await expect(store.put(key, Buffer.from('x'), 'image/png'), `key ${JSON.stringify(key)}`).rejects.toThrow();
        await expect(store.get(key), `key ${JSON.stringify(key)}`).rejects.toThrow();
      }
    });

    it('ping succeeds on a writable store', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
