// Standard Webhooks signatures: the known vector from the spec's reference libraries, and verification.

import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, isValidWebhookSecret, signWebhook, verifyWebhook, webhookHeaders } from './signing.js';

// The test vector used by the standard-webhooks reference libraries.
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('webhook signing', () => {
  it('matches the reference vector', () => {
    expect(signWebhook(vector.secret, vector)).toBe(vector.signature);
  });

  it('verifies its own headers and refuses a changed body, another secret or an old timestamp', () => {
    const secret = generateWebhookSecret();
    expect(isValidWebhookSecret(secret)).toBe(true);
    const body = '{"id":"task_1"}';
    const headers = webhookHeaders(secret, 'msg_1', 1_700_000_000, body);
    const received = { id: headers['webhook-id'] ?? '', timestamp: headers['webhook-timestamp'] ?? '', signature: headers['webhook-signature'] ?? '' };
    expect(verifyWebhook(secret, received, body, 1_700_000_010)).toBe(true);
    expect(verifyWebhook(secret, received, '{"id":"task_2"}', 1_700_000_010)).toBe(false);
    expect(verifyWebhook(generateWebhookSecret(), received, body, 1_700_000_010)).toBe(false);
    expect(verifyWebhook(secret, received, body, 1_700_000_000 + 3600)).toBe(false);
    // Several signatures (a rotated secret): any one that matches is enough.
    expect(verifyWebhook(secret, { ...received, signature: `v1,bm90IGl0 ${received.signature}` }, body, 1_700_000_010)).toBe(true);
  });

  it('refuses secrets that are not whsec_ base64', () => {
    expect(isValidWebhookSecret('whsec_short')).toBe(false);
    expect(isValidWebhookSecret('not-a-secret!!')).toBe(false);
    expect(() => signWebhook('whsec_***', vector)).toThrow();
  });
});
