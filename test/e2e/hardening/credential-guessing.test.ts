// Guessing the admin token or API keys at the console's sign-in: an address that presents 20 wrong
// credentials within ten minutes is refused with 429 and Retry-After — before its next guess, right or
// wrong, is compared — while other addresses and signed-in sessions carry on. Behind a trusted proxy the
// address is the one X-Forwarded-For names (server.trust_proxy), so one guesser does not lock out everyone.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../../src/testing/gateway-harness.js';
import { adminToken, call, createKey, startBillingGateway } from '../billing-support.js';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startBillingGateway({ trustProxy: ['127.0.0.1/32', '::1'] });
});

afterAll(async () => {
  await gateway?.close();
});

const from = (address: string) => ({ 'x-forwarded-for': address });

describe('wrong credentials, counted per client address', () => {
  it('refuses an address after 20 wrong admin tokens and sign-ins, even with the right token, and says when to retry', async () => {
    const guesser = from('198.51.100.7');
    const holderKey = await createKey(gateway, { name: 'holder' });
    // An operator signed in before the guessing starts keeps working throughout.
    const session = await call(`${gateway.url}/admin/v1/session`, { body: { admin_token: adminToken } });
    expect(session.status).toBe(201);
    const cookie = (session.headers.get('set-cookie') ?? '').split(';')[0] ?? '';

    for (let attempt = 0; attempt < 10; attempt++) {
      const wrongBearer = await call(`${gateway.url}/admin/v1/keys`, { token: `guess-${attempt}`, headers: guesser });
      expect([wrongBearer.status, (wrongBearer.body as any).error.code]).toEqual([401, 'invalid_api_key']);
      const wrongSignIn = await call(`${gateway.url}/admin/v1/session`, { body: { api_key: `sk-guess-${attempt}` }, headers: guesser });
      expect([wrongSignIn.status, (wrongSignIn.body as any).error.code]).toEqual([401, 'invalid_api_key']);
    }

    const rightTokenNow = await call(`${gateway.url}/admin/v1/keys`, { token: adminToken, headers: guesser });
    expect(rightTokenNow.status).toBe(429);
    expect((rightTokenNow.body as any).error).toMatchObject({ code: 'rate_limit_exceeded', type: 'requests' });
    expect((rightTokenNow.body as any).error.message).toMatch(/Too many wrong credentials from this address: try again in \d+m\d+s/);
    const retryAfter = Number(rightTokenNow.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(500);
    expect(retryAfter).toBeLessThanOrEqual(600);
    expect(rightTokenNow.headers.get('x-request-id')).toBeTruthy();
    const rightKeyNow = await call(`${gateway.url}/admin/v1/session`, { body: { api_key: holderKey.secret }, headers: guesser });
    expect(rightKeyNow.status).toBe(429);

    // Another address, and the session signed in earlier, are not affected.
    expect((await call(`${gateway.url}/admin/v1/keys`, { token: adminToken, headers: from('203.0.113.20') })).status).toBe(200);
    expect((await call(`${gateway.url}/admin/v1/keys`, { headers: { cookie, ...guesser } })).status).toBe(200);
  });

  it('does not count right credentials or refusals for other reasons', async () => {
    const operator = from('198.51.100.8');
    for (let attempt = 0; attempt < 25; attempt++) {
      expect((await call(`${gateway.url}/admin/v1/keys`, { token: adminToken, headers: operator })).status).toBe(200);
    }
    // A key holder's key used on an operator route is refused (403) for what it is, not as a guess.
    const holder = await createKey(gateway, { name: 'busy holder' });
    const signedIn = await call(`${gateway.url}/admin/v1/session`, { body: { api_key: holder.secret }, headers: operator });
    expect(signedIn.status).toBe(201);
    expect((await call(`${gateway.url}/admin/v1/keys`, { token: adminToken, headers: operator })).status).toBe(200);
  });
});
