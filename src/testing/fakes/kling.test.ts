// The Kling fake against Kling's documented rules, over raw HTTP with tokens signed here (Kling has no
// official npm SDK): the JWT checks behind codes 1000–1004, the request-body rules behind 1201/1203,
// the concurrency rule behind 1303, and the task lifecycle a client polls.

import { SignJWT } from 'jose';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { klingFakeAccessKey, klingFakeSecretKey, startKlingFake, type KlingFake } from './kling.js';

let fake: KlingFake;
beforeAll(async () => {
  fake = await startKlingFake({ maxConcurrency: 10, keys: { [klingFakeAccessKey]: klingFakeSecretKey, AKother0001: 'SKother0001' } });
});
afterAll(async () => fake.close());
afterEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

/** A token as Kling's Python sample makes it: iss = access key, exp = now + 1800, nbf = now - 5. */
async function token(options: { accessKey?: string; secretKey?: string; exp?: number; nbf?: number; omit?: 'exp' } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuer(options.accessKey ?? klingFakeAccessKey).setNotBefore(options.nbf ?? now - 5);
  if (options.omit !== 'exp') jwt.setExpirationTime(options.exp ?? now + 1800);
  return jwt.sign(new TextEncoder().encode(options.secretKey ?? klingFakeSecretKey));
}

async function create(body: unknown, authorization?: string): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const auth = authorization ?? `Bearer ${await token()}`;
  if (auth !== '') headers['authorization'] = auth;
  const response = await fetch(`${fake.url}/v1/images/generations`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: response.status, json: await response.json() };
}

async function query(taskId: string, authorization?: string): Promise<{ status: number; json: any }> {
  const response = await fetch(`${fake.url}/v1/images/generations/${taskId}`, { headers: { authorization: authorization ?? `Bearer ${await token()}` } });
  return { status: response.status, json: await response.json() };
}

async function png(width: number, height: number): Promise<string> {
  return (await sharp({ create: { width, height, channels: 3, background: '#336699' } }).png().toBuffer()).toString('base64');
}

describe('Kling fake: authentication (通用信息 / 接口鉴权, 错误码 1000–1004)', () => {
  const now = () => Math.floor(Date.now() / 1000);
  it.each([
    ['no Authorization', '', 1001],
    ['not a Bearer token', 'Token abc', 1002],
    ['a Bearer value that is not a JWT', 'Bearer not-a-jwt', 1002],
  ])('answers 401 for %s (%j) with code %i', async (_, authorization, code) => {
    const answer = await create({ prompt: 'x' }, authorization);
    expect([answer.status, answer.json.code]).toEqual([401, code]);
    expect(typeof answer.json.request_id).toBe('string');
  });

  it('answers 1000 for an access key it does not know, 1002 for a wrong signature or a missing exp', async () => {
    expect((await create({ prompt: 'x' }, `Bearer ${await token({ accessKey: 'AKunknown' })}`)).json.code).toBe(1000);
    expect((await create({ prompt: 'x' }, `Bearer ${await token({ secretKey: 'not-the-secret' })}`)).json.code).toBe(1002);
    expect((await create({ prompt: 'x' }, `Bearer ${await token({ omit: 'exp' })}`)).json.code).toBe(1002);
  });

  it('answers 1004 for an expired token and 1003 for one not valid yet', async () => {
    expect((await create({ prompt: 'x' }, `Bearer ${await token({ exp: now() - 10, nbf: now() - 1900 })}`)).json.code).toBe(1004);
    expect((await create({ prompt: 'x' }, `Bearer ${await token({ nbf: now() + 600 })}`)).json.code).toBe(1003);
  });
});

describe('Kling fake: request body (图像生成)', () => {
  it.each([
    ['a prompt over 2500 characters', { prompt: 'x'.repeat(2501) }],
    ['n 10', { prompt: 'x', n: 10 }],
    ['21:9 on kling-v1', { model_name: 'kling-v1', prompt: 'x', aspect_ratio: '21:9' }],
    ['2k on kling-v1-5', { model_name: 'kling-v1-5', prompt: 'x', resolution: '2k' }],
    ['image_fidelity above 1', { prompt: 'x', image_fidelity: 1.5 }],
    ['kling-v2-new without an image', { model_name: 'kling-v2-new', prompt: 'x' }],
  ])('answers 400 code 1201 for %s', async (_, body) => {
    const answer = await create(body);
    expect([answer.status, answer.json.code]).toEqual([400, 1201]);
  });

  it('answers 1201 for reference images Kling refuses', async () => {
    const image = await png(640, 480);
    const cases: [Record<string, unknown>, string][] = [
      [{ model_name: 'kling-v1-5', prompt: 'x', image }, 'image_reference is required'],
      [{ model_name: 'kling-v2-1', prompt: 'x', image, image_reference: 'subject' }, 'image_reference is not supported'],
      [{ model_name: 'kling-v1', prompt: 'x', image, negative_prompt: 'blur' }, 'negative_prompt is not supported with image'],
      [{ model_name: 'kling-v1', prompt: 'x', image: `data:image/png;base64,${image}` }, 'without a data: prefix'],
      [{ model_name: 'kling-v1', prompt: 'x', image: await png(299, 400) }, 'at least 300px'],
      [{ model_name: 'kling-v1', prompt: 'x', image: await png(1000, 390) }, 'between 1:2.5 and 2.5:1'],
      [{ model_name: 'kling-v3', prompt: 'x', image }, 'does not support image input'],
    ];
    for (const [body, message] of cases) {
      const answer = await create(body);
      expect([answer.status, answer.json.code]).toEqual([400, 1201]);
      expect(answer.json.message).toContain(message);
    }
  });

  it('answers 404 code 1203 for a model it does not have', async () => {
    const answer = await create({ model_name: 'kling-v9', prompt: 'x' });
    expect([answer.status, answer.json.code]).toEqual([404, 1203]);
  });

  it('counts n against the concurrency of the resource pack: 429 code 1303 over it', async () => {
    fake.switches.pollsBeforeReady = 1_000;
    expect((await create({ prompt: 'x', n: 9 })).json.code).toBe(0);
    const over = await create({ prompt: 'x', n: 2 });
    expect([over.status, over.json.code]).toEqual([429, 1303]);
    for (const task of fake.tasks.values()) task.status = 'failed';
  });
});

describe('Kling fake: task lifecycle', () => {
  it('goes submitted → processing → succeed with n image URLs in index order, only for the account that created it', async () => {
    const created = await create({ model_name: 'kling-v2', prompt: 'a kite', n: 3, aspect_ratio: '4:3', resolution: '2k' });
    expect(created.json).toMatchObject({ code: 0, message: 'SUCCEED', data: { task_status: 'submitted' } });
    const taskId = String(created.json.data.task_id);
    const statuses: string[] = [];
    let last: any;
    for (let index = 0; index < 3; index += 1) {
      last = (await query(taskId)).json;
      statuses.push(last.data.task_status);
    }
    expect(statuses).toEqual(['submitted', 'processing', 'succeed']);
    expect(last.data.task_result.images.map((image: { index: number }) => image.index)).toEqual([0, 1, 2]);
    expect(last.data.final_unit_deduction).toBe('3');
    const bytes = Buffer.from(await (await fetch(last.data.task_result.images[0].url)).arrayBuffer());
    const metadata = await sharp(bytes).metadata();
    expect(metadata.width! * metadata.height!).toBeGreaterThan(2000 * 2000);
    expect(metadata.width! / metadata.height!).toBeCloseTo(4 / 3, 1);

    const otherAccount = await query(taskId, `Bearer ${await token({ accessKey: 'AKother0001', secretKey: 'SKother0001' })}`);
    expect([otherAccount.status, otherAccount.json.code]).toEqual([404, 1203]);
  });
});
