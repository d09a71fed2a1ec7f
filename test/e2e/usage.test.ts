// GET /v1/usage: a key's own usage and balance, totalled per model or per UTC day, within from/to.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/core/ports/clock.js';
import type { TestGateway } from '../../src/testing/gateway-harness.js';
import { call, cheapImage, createKey, generate, startBillingGateway } from './billing-support.js';

const clock = manualClock(Date.UTC(2027, 2, 10, 22, 0));
let gateway: TestGateway;
let alice: { id: string; secret: string };
let bob: { id: string; secret: string };

const usage = (secret: string, query = '') => call(`${gateway.url}/v1/usage${query}`, { token: secret });

beforeAll(async () => {
  gateway = await startBillingGateway({}, { clock });
  alice = await createKey(gateway, { name: 'alice', quota_usd: '1' });
  bob = await createKey(gateway, { name: 'bob', quota_usd: '1' });
  // 10 March: alice two dall-e-2 images and one dall-e-3; bob one dall-e-2.
  expect((await generate(gateway, alice.secret, { ...cheapImage, n: 2 })).status).toBe(200);
  expect((await generate(gateway, alice.secret, { model: 'dall-e-3', quality: 'hd', response_format: 'b64_json' })).status).toBe(200);
  expect((await generate(gateway, bob.secret, cheapImage)).status).toBe(200);
  // 11 March: alice one more dall-e-2.
  clock.set(Date.UTC(2027, 2, 11, 9, 30));
  expect((await generate(gateway, alice.secret, cheapImage)).status).toBe(200);
});
afterAll(async () => gateway.close());

describe('GET /v1/usage', () => {
  it('groups a key’s usage by model, with totals and the balance', async () => {
    const answer = await usage(alice.secret, '?group_by=model');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ object: 'usage', group_by: 'model', unit: 'credit', credit_usd: '0.000001' });
    expect(answer.body.key).toMatchObject({ id: alice.id, name: 'alice' });
    expect(answer.body.data).toEqual([
      { model: 'dall-e-2', requests: 2, images_requested: 3, images_delivered: 3, amount: 48_000, amount_usd: '0.048' },
      { model: 'dall-e-3', requests: 1, images_requested: 1, images_delivered: 1, amount: 80_000, amount_usd: '0.08' },
    ]);
    expect(answer.body.total).toEqual({ requests: 3, images_requested: 4, images_delivered: 4, amount: 128_000, amount_usd: '0.128' });
    expect([answer.body.balance, answer.body.balance_usd]).toEqual([1_000_000 - 128_000, '0.872']);
  });

  it('groups by UTC day and honours from and to (Unix seconds or ISO dates)', async () => {
    const byDay = await usage(alice.secret, '?group_by=day');
    expect(byDay.body.data.map((row: { day: string; amount: number }) => [row.day, row.amount])).toEqual([
      ['2027-03-10', 112_000],
      ['2027-03-11', 16_000],
    ]);
    const onlyEleventh = await usage(alice.secret, '?group_by=day&from=2027-03-11');
    expect(onlyEleventh.body.data).toEqual([{ day: '2027-03-11', requests: 1, images_requested: 1, images_delivered: 1, amount: 16_000, amount_usd: '0.016' }]);
    const onlyTenth = await usage(alice.secret, `?from=${Date.UTC(2027, 2, 10) / 1000}&to=${Date.UTC(2027, 2, 11) / 1000}`);
    expect(onlyTenth.body.total).toMatchObject({ requests: 2, amount: 112_000 });
    expect(onlyTenth.body.data).toEqual([]);
  });

  it('shows a key only its own usage', async () => {
    const answer = await usage(bob.secret, '?group_by=model&key=' + alice.id);
    expect(answer.body.key.id).toBe(bob.id);
    expect(answer.body.data).toEqual([{ model: 'dall-e-2', requests: 1, images_requested: 1, images_delivered: 1, amount: 16_000, amount_usd: '0.016' }]);
  });

  it('rejects bad parameters with 400 naming them, and anonymous callers with 401', async () => {
    const badGroup = await usage(alice.secret, '?group_by=week');
    expect([badGroup.status, badGroup.body.error.param]).toEqual([400, 'group_by']);
    const badFrom = await usage(alice.secret, '?from=yesterday');
    expect([badFrom.status, badFrom.body.error.param]).toEqual([400, 'from']);
    const backwards = await usage(alice.secret, '?from=2027-03-11&to=2027-03-10');
    expect([backwards.status, backwards.body.error.param]).toEqual([400, 'to']);
    expect((await call(`${gateway.url}/v1/usage`)).status).toBe(401);
  });
});
