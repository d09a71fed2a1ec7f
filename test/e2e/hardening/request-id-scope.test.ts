// Issue 9, item 12: a client's X-Request-Id is a label, not a global primary key. Reservations (and
// Idempotency-Key records) are scoped to the API key, so tenant B is never refused — and never told
// which ids exist — because tenant A used the same id. The same key reusing an id is still refused.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../../src/testing/gateway-harness.js';
import { cheapImage, cheapImageCredits, createKey, generate, startBillingGateway } from '../billing-support.js';

describe('request ids scoped to the API key', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startBillingGateway();
  });
  afterAll(async () => gateway.close());

  it("tenant B gets its image and its own charge for an X-Request-Id tenant A already used", async () => {
    const tenantA = await createKey(gateway, { name: 'tenant a', quota: 5 * cheapImageCredits });
    const tenantB = await createKey(gateway, { name: 'tenant b', quota: 5 * cheapImageCredits });
    const headers = { 'x-request-id': 'shared-trace-id-7' };

    const first = await generate(gateway, tenantA.secret, cheapImage, headers);
    expect(first.status).toBe(200);
    const second = await generate(gateway, tenantB.secret, { ...cheapImage, n: 2 }, headers);
    expect(second.status).toBe(200);
    expect(second.body.data).toHaveLength(2);
    expect(second.headers.get('x-request-id')).toBe('shared-trace-id-7');

    const billing = gateway.gateway.billing;
    expect(await billing.balance(tenantA.id)).toBe(4 * cheapImageCredits);
    expect(await billing.balance(tenantB.id)).toBe(3 * cheapImageCredits);
    const [usageA] = await billing.listUsage({ keyId: tenantA.id });
    const [usageB] = await billing.listUsage({ keyId: tenantB.id });
    expect([usageA?.reservationId, usageA?.imagesDelivered]).toEqual(['shared-trace-id-7', 1]);
    expect([usageB?.reservationId, usageB?.imagesDelivered]).toEqual(['shared-trace-id-7', 2]);

    // Within one key the id still names one request: a reuse is refused, not charged twice.
    const reused = await generate(gateway, tenantB.secret, cheapImage, headers);
    expect([reused.status, reused.body.error.code]).toEqual([409, 'conflict']);
    expect(await billing.balance(tenantB.id)).toBe(3 * cheapImageCredits);
  });

  it('the same Idempotency-Key from two tenants runs two requests, each replayed only to its own tenant', async () => {
    const tenantA = await createKey(gateway, { name: 'tenant a', quota: 5 * cheapImageCredits });
    const tenantB = await createKey(gateway, { name: 'tenant b', quota: 5 * cheapImageCredits });
    const headers = { 'idempotency-key': 'shared-idempotency-key' };
    const a = await generate(gateway, tenantA.secret, cheapImage, headers);
    const b = await generate(gateway, tenantB.secret, { ...cheapImage, prompt: 'another prompt entirely' }, headers);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    const replayA = await generate(gateway, tenantA.secret, cheapImage, headers);
    expect(replayA.headers.get('idempotent-replayed')).toBe('true');
    expect(replayA.body.data[0].b64_json).toBe(a.body.data[0].b64_json);
    expect(await gateway.gateway.billing.balance(tenantA.id)).toBe(4 * cheapImageCredits);
    expect(await gateway.gateway.billing.balance(tenantB.id)).toBe(4 * cheapImageCredits);
  });
});
