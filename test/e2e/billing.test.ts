// Money over real concurrent HTTP: a burst never overdraws a balance, an image that never arrived
// is never charged, a failed request charges nothing, and gpt-image answers carry `usage` that
// matches the charge.

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import type { TestGateway } from '../../src/testing/gateway-harness.js';
import { admin, call, cheapImage, cheapImageCredits, createKey, generate, startBillingGateway } from './billing-support.js';

describe('billing on the offline engine', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startBillingGateway();
  });
  afterAll(async () => gateway.close());

  it('200 concurrent requests on a quota of exactly 37 images: 37 delivered and charged, balance 0, never below', async () => {
    const { id, secret } = await createKey(gateway, { quota: 37 * cheapImageCredits });
    const billing = gateway.gateway.billing;
    const samples: number[] = [];
    let running = true;
    const sampler = (async () => {
      while (running) {
        samples.push((await billing.balance(id)) ?? Number.NaN);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();

    const answers = await Promise.all(Array.from({ length: 200 }, () => generate(gateway, secret, cheapImage)));
    running = false;
    await sampler;

    const delivered = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status !== 200);
    expect(delivered).toHaveLength(37);
    expect(delivered.reduce((total, answer) => total + answer.body.data.length, 0)).toBe(37);
    const first = await sharp(Buffer.from(delivered[0]?.body.data[0].b64_json, 'base64')).metadata();
    expect([first.width, first.height]).toEqual([256, 256]);
    expect(refused).toHaveLength(163);
    for (const answer of refused) {
      expect(answer.status).toBe(429);
      expect(answer.body.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    }

    expect(samples.length).toBeGreaterThan(3);
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(samples.every(Number.isInteger)).toBe(true);
    expect(await billing.balance(id)).toBe(0);

    const usage = await admin(gateway, 'GET', `/usage?key=${id}&limit=1000`);
    expect(usage.body.data).toHaveLength(37);
    expect(usage.body.data.reduce((total: number, row: { amount: number }) => total + row.amount, 0)).toBe(37 * cheapImageCredits);
    const account = await billing.account(id);
    expect(account).toEqual({ balance: 0, granted: 37 * cheapImageCredits, charged: 37 * cheapImageCredits, held: 0 });
  });

  it('gpt-image answers carry usage from the token table, and the charge is exactly those tokens at the published rates', async () => {
    const { id, secret } = await createKey(gateway, { quota_usd: '1' });
    const prompt = 'a red fox in fresh snow, watercolor'; // 35 characters ≈ 9 tokens
    const answer = await generate(gateway, secret, { model: 'gpt-image-1', prompt, size: '1024x1536', quality: 'medium', n: 2 });
    expect(answer.status).toBe(200);
    expect(answer.body.usage).toEqual({
      input_tokens: 9,
      output_tokens: 2 * 1584,
      total_tokens: 9 + 2 * 1584,
      input_tokens_details: { text_tokens: 9, image_tokens: 0 },
    });
    // 9 × $5/1M + 3168 × $40/1M = 45 + 126 720 credits.
    const charged = 45 + 126_720;
    expect(await gateway.gateway.billing.balance(id)).toBe(1_000_000 - charged);
    const [row] = (await admin(gateway, 'GET', `/usage?key=${id}`)).body.data;
    expect(row).toMatchObject({ model: 'gpt-image-1', unit: 'token', input_text_tokens: 9, output_tokens: 3168, amount: charged, images_requested: 2, images_delivered: 2, quality: 'medium', size: '1024x1536' });
  });

  it('an unlimited development key (IMAGEGATE_API_KEYS) is never refused for money, and its usage is recorded', async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => generate(gateway, gateway.apiKey, cheapImage)));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
    const usage = await call(`${gateway.url}/v1/usage`, { token: gateway.apiKey });
    expect(usage.body.total).toMatchObject({ requests: 5, images_delivered: 5, amount: 5 * cheapImageCredits });
    expect(usage.body.balance).toBeNull();
  });

  it('a request reusing an X-Request-Id is refused instead of riding on the first one', async () => {
    const { id, secret } = await createKey(gateway, { quota: 10 * cheapImageCredits });
    const headers = { 'x-request-id': 'client-chosen-id-1' };
    expect((await generate(gateway, secret, cheapImage, headers)).status).toBe(200);
    const again = await generate(gateway, secret, cheapImage, headers);
    expect([again.status, again.body.error.code]).toEqual([409, 'conflict']);
    expect(await gateway.gateway.billing.balance(id)).toBe(9 * cheapImageCredits);
  });
});

describe('billing through an upstream channel', () => {
  let fake: OpenAIFake;
  let gateway: TestGateway;

  beforeAll(async () => {
    // A relay that still serves DALL·E, whose flat prices these tests use.
    fake = await startOpenAIFake({ servesRetiredModels: true });
    gateway = await startBillingGateway({
      // A relay that still sells DALL·E 2 at its price (OpenAI itself shut it down).
      channels: [{ name: 'openai-fake', provider: 'openai', base_url: `${fake.url}/v1`, api_key: fake.apiKey, models: ['dall-e-2', 'gpt-image-1'], options: { serves_retired_models: true } }],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  it('a provider that delivers 2 of 4 images is charged for 2, and the usage row says so', async () => {
    fake.switches.maxImages = 2;
    try {
      const { id, secret } = await createKey(gateway, { quota: 10 * cheapImageCredits });
      const answer = await generate(gateway, secret, { ...cheapImage, n: 4 });
      expect(answer.status).toBe(200);
      expect(answer.body.data).toHaveLength(2);
      expect(answer.headers.get('x-imagegate-warnings')).toMatch(/delivered 2 of 4/);
      expect(await gateway.gateway.billing.balance(id)).toBe(8 * cheapImageCredits);
      const [row] = (await admin(gateway, 'GET', `/usage?key=${id}`)).body.data;
      expect(row).toMatchObject({
        key_id: id,
        model: 'dall-e-2',
        channel: 'openai-fake',
        provider: 'openai',
        images_requested: 4,
        images_delivered: 2,
        size: '256x256',
        unit: 'image',
        unit_price: cheapImageCredits,
        amount: 2 * cheapImageCredits,
      });
      expect(row.id).toBe(answer.headers.get('x-request-id'));
    } finally {
      delete fake.switches.maxImages;
    }
  });

  it('an upstream 500 charges nothing and restores the balance', async () => {
    fake.switches.failStatus = 500;
    try {
      const { id, secret } = await createKey(gateway, { quota: 3 * cheapImageCredits });
      const answer = await generate(gateway, secret, { ...cheapImage, n: 3 });
      expect(answer.status).toBeGreaterThanOrEqual(500);
      expect(await gateway.gateway.billing.balance(id)).toBe(3 * cheapImageCredits);
      expect((await admin(gateway, 'GET', `/usage?key=${id}`)).body.data).toEqual([]);
      expect((await gateway.gateway.billing.account(id)).held).toBe(0);
    } finally {
      delete fake.switches.failStatus;
    }
  });

  it('a moderation refusal charges nothing and restores the balance', async () => {
    fake.switches.moderation = 'input';
    try {
      const { id, secret } = await createKey(gateway, { quota_usd: '1' });
      const answer = await generate(gateway, secret, { model: 'gpt-image-1', quality: 'low', size: '1024x1024' });
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('moderation_blocked');
      expect(await gateway.gateway.billing.balance(id)).toBe(1_000_000);
      expect((await gateway.gateway.billing.account(id)).held).toBe(0);
    } finally {
      delete fake.switches.moderation;
    }
  });

  it("bills gpt-image from the provider's reported usage", async () => {
    const { id, secret } = await createKey(gateway, { quota_usd: '1' });
    const answer = await generate(gateway, secret, { model: 'gpt-image-1', quality: 'low', size: '1024x1024', prompt: 'x' });
    expect(answer.status).toBe(200);
    const usage = answer.body.usage;
    expect(usage.output_tokens).toBeGreaterThan(0);
    const expected = usage.input_tokens_details.text_tokens * 5 + usage.input_tokens_details.image_tokens * 10 + usage.output_tokens * 40;
    expect(1_000_000 - ((await gateway.gateway.billing.balance(id)) ?? 0)).toBe(expected);
    const [row] = (await admin(gateway, 'GET', `/usage?key=${id}`)).body.data;
    expect(row.detail.usage_source).toBe('reported');
  });
});
