// Signed, expiring links to stored images: HMAC-SHA256 over the blob key and the expiry, so
// hosted results need no API key to fetch yet cannot be guessed, altered or used after expiry.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from './ports/clock.js';

export interface UrlSigner {
  /** Path and query (`/v1/files/<key>?expires=…&signature=…`), to be put after the public base URL. */
  sign(blobKey: string, ttlSeconds?: number): { path: string; expiresAt: number };
  /** 'ok', 'expired' or 'invalid' for a key and the query it came with. */
  verify(blobKey: string, expires: string | undefined, signature: string | undefined): 'ok' | 'expired' | 'invalid';
}

export const filesPathPrefix = '/v1/files/';

export function createUrlSigner(options: { secret: string; defaultTtlSeconds: number; clock: Clock }): UrlSigner {
  const mac = (blobKey: string, expires: number) => createHmac('sha256', options.secret).update(`${blobKey}\n${expires}`).digest('base64url');
  return {
    sign(blobKey, ttlSeconds = options.defaultTtlSeconds) {
      const expires = Math.floor(options.clock.now() / 1000) + ttlSeconds;
      return { path: `${filesPathPrefix}${blobKey}?expires=${expires}&signature=${mac(blobKey, expires)}`, expiresAt: expires * 1000 };
    },
    verify(blobKey, expiresText, signature) {
      if (!expiresText || !signature || !/^\d{1,12}$/.test(expiresText)) return 'invalid';
      const expires = Number(expiresText);
      const expected = Buffer.from(mac(blobKey, expires));
      const given = Buffer.from(signature);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'invalid';
      return expires * 1000 < options.clock.now() ? 'expired' : 'ok';
    },
  };
}
