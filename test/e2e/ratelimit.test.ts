// Per-key rate limits over HTTP: 429 rate_limit_exceeded with retry-after and OpenAI's
// x-ratelimit-* headers, for requests and images per minute and for concurrent requests.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../src/testing/gateway-harness.js';
import { admin, cheapImage, createKey, generate, startBillingGateway } from './billing-support.js';
import { startHeldUpstream, type HeldUpstream } from './hardening/held-upstream.js';

let gateway: TestGateway;
let held: HeldUpstream;

beforeAll(async () => {
  // gpt-image-1 goes to an upstream that holds each request until the test releases it, so the test
  // knows when a request is in flight (an event, not a render long enough to overlap); the rest is offline.
  held = await startHeldUpstream({ width: 256, height: 256 });
  gateway = await startBillingGateway({
    channels: [
      { name: 'offline', provider: 'offline', models: ['dall-e-2'] },
      { name: 'held', provider: 'openai', base_url: held.baseUrl, api_key: 'sk-held-0123456789abcdef', models: ['gpt-image-1'] },
    ],
  });
});
afterAll(async () => {
  await gateway.close();
  await held.close();
});

describe('rate limits', () => {
  it('refuses the request over the per-minute limit with 429, retry-after and the x-ratelimit headers', async () => {
    const { secret } = await createKey(gateway, { unlimited: true, rate_limits: { requests_per_minute: 2 } });
    const first = await generate(gateway, secret, cheapImage);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(first.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(ms|s)$|^1m0s$/);
    expect((await generate(gateway, secret, cheapImage)).headers.get('x-ratelimit-remaining-requests')).toBe('0');

    const refused = await generate(gateway, secret, cheapImage);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'requests' });
    expect(refused.body.error.message).toMatch(/Limit 2, Used 2, Requested 1/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(refused.headers.get('x-ratelimit-reset-requests')).not.toBeNull();
  });

  it('counts images per minute by n', async () => {
    const { secret } = await createKey(gateway, { unlimited: true, rate_limits: { images_per_minute: 5 } });
    const three = await generate(gateway, secret, { ...cheapImage, n: 3 });
    expect([three.status, three.headers.get('x-ratelimit-limit-images'), three.headers.get('x-ratelimit-remaining-images')]).toEqual([200, '5', '2']);
    const tooMany = await generate(gateway, secret, { ...cheapImage, n: 3 });
    expect([tooMany.status, tooMany.body.error.code, tooMany.headers.get('x-ratelimit-remaining-images')]).toEqual([429, 'rate_limit_exceeded', '2']);
    expect(Number(tooMany.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await generate(gateway, secret, { ...cheapImage, n: 2 })).status).toBe(200);
  });

  it('allows the configured number of concurrent requests per key and gives the slot back after', async () => {
    const { secret } = await createKey(gateway, { unlimited: true, rate_limits: { concurrent_requests: 1 } });
    const slow = { model: 'gpt-image-1', size: '1024x1024' };
    const first = generate(gateway, secret, slow);
    // The first request is upstream, holding the key's only slot.
    await held.arrived(held.received + 1);
    const refused = await generate(gateway, secret, slow);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limit_exceeded');
    expect(refused.headers.get('retry-after')).toBe('1');
    held.release();
    expect((await first).status).toBe(200);
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
  });

  it('applies a changed limit to the next request', async () => {
    const { id, secret } = await createKey(gateway, { unlimited: true, rate_limits: { requests_per_minute: 1 } });
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    expect((await generate(gateway, secret, cheapImage)).status).toBe(429);
    await admin(gateway, 'PATCH', `/keys/${id}`, { rate_limits: { requests_per_minute: null } });
    const free = await generate(gateway, secret, cheapImage);
    expect([free.status, free.headers.get('x-ratelimit-limit-requests')]).toEqual([200, null]);
  });

  it('leaves the unlimited development key without limits or headers', async () => {
    const answers = await Promise.all(Array.from({ length: 4 }, () => generate(gateway, gateway.apiKey, cheapImage)));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    expect(answers[0]?.headers.get('x-ratelimit-limit-requests')).toBeNull();
  });
});
